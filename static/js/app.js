/*
 * Latchkey — progressive-enhancement behaviours.
 *
 * Loaded with `defer` after htmx. The CSP forbids inline scripts, so every
 * behaviour here is opted into with a data attribute; templates need no JS.
 * Works without htmx (htmx events simply never fire). htmx itself is
 * configured via <meta name="htmx-config">, never from here.
 *
 *   data-confirm="msg"        confirm() before submit/click; cancel if declined
 *   data-copy="#sel"          copy the value/text of #sel to the clipboard
 *   data-copy-text="text"     copy the literal text
 *   data-reveal="#input"      toggle a password input's visibility (aria-pressed)
 *   form[data-autosubmit]     submit on change (text inputs debounced 300ms)
 *   data-escape-cancel        Escape inside clicks the contained [data-cancel]
 *   select[data-searchable]   add a type-to-filter input above the select
 *   data-autofocus            focused after an htmx swap (as is [autofocus])
 *   showToast event           HX-Trigger: {"showToast":{"message":"…","level":"ok"}}
 */
(function () {
  'use strict';

  var TOAST_MS = 5000;
  var TOAST_LEVELS = { ok: 1, info: 1, warn: 1, danger: 1 };
  var TEXTISH = /^(text|search|email|tel|url|number|password)$/;

  function $(sel, root) {
    if (!sel) return null;
    try { return (root || document).querySelector(sel); } catch (e) { return null; }
  }

  // ---- data-confirm ------------------------------------------------------
  // Capture phase on document runs before htmx's own listeners on the element,
  // so a declined confirm also stops htmx requests. Prefer hx-confirm on htmx
  // elements; do not put both on the same element.
  document.addEventListener('submit', function (e) {
    var form = e.target;
    var sub = e.submitter;
    var msg = (sub && sub.getAttribute('data-confirm')) || form.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener('click', function (e) {
    var el = e.target.closest && e.target.closest('a[data-confirm], button[data-confirm], input[data-confirm]');
    if (!el) return;
    // Submit buttons are handled on submit, after native validation.
    if (el.form && (el.type === 'submit' || el.type === 'image')) return;
    if (!window.confirm(el.getAttribute('data-confirm'))) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }, true);

  // ---- data-copy / data-copy-text ------------------------------------------
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var ta = document.createElement('textarea');
      ta.value = text;
      ta.setAttribute('readonly', '');
      ta.style.position = 'fixed';
      ta.style.opacity = '0';
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (err) { ok = false; }
      ta.remove();
      if (ok) { resolve(); } else { reject(new Error('copy failed')); }
    });
  }

  function flashLabel(btn, label) {
    if (btn._lkTimer) { clearTimeout(btn._lkTimer); } else { btn._lkLabel = btn.textContent; }
    btn.textContent = label;
    btn._lkTimer = setTimeout(function () {
      btn.textContent = btn._lkLabel;
      btn._lkTimer = null;
    }, 1500);
  }

  document.addEventListener('click', function (e) {
    var btn = e.target.closest && e.target.closest('[data-copy], [data-copy-text]');
    if (!btn) return;
    e.preventDefault();
    var text = btn.getAttribute('data-copy-text');
    if (text === null) {
      var src = $(btn.getAttribute('data-copy'));
      if (!src) return;
      text = /^(INPUT|TEXTAREA|SELECT)$/.test(src.tagName) ? src.value : src.textContent.trim();
    }
    copyText(text).then(function () { flashLabel(btn, 'Copied'); },
      function () { flashLabel(btn, 'Copy failed'); });
  });

  // ---- data-reveal -------------------------------------------------------
  document.addEventListener('click', function (e) {
    var btn = e.target.closest && e.target.closest('[data-reveal]');
    if (!btn) return;
    var input = $(btn.getAttribute('data-reveal'));
    if (!input) return;
    e.preventDefault();
    var show = input.type === 'password';
    input.type = show ? 'text' : 'password';
    btn.setAttribute('aria-pressed', show ? 'true' : 'false');
  });

  // ---- form[data-autosubmit] ---------------------------------------------
  function submitForm(form) {
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  }

  function isTextish(el) {
    return el.tagName === 'TEXTAREA' || (el.tagName === 'INPUT' && TEXTISH.test(el.type));
  }

  function autosubmit(e) {
    var el = e.target;
    var form = el.form || (el.closest && el.closest('form'));
    if (!form || !form.hasAttribute('data-autosubmit')) return;
    if (el.hasAttribute('data-autosubmit-ignore')) return;
    if (isTextish(el)) {
      if (e.type !== 'input') return; // already handled while typing
      clearTimeout(form._lkDebounce);
      form._lkDebounce = setTimeout(function () { submitForm(form); }, 300);
    } else if (e.type === 'change') {
      submitForm(form);
    }
  }
  document.addEventListener('input', autosubmit);
  document.addEventListener('change', autosubmit);

  // ---- data-escape-cancel ------------------------------------------------
  document.addEventListener('keydown', function (e) {
    if (e.key !== 'Escape' || e.defaultPrevented) return;
    var scope = e.target.closest && e.target.closest('[data-escape-cancel]');
    var cancel = scope && $('[data-cancel]', scope);
    if (cancel) {
      e.preventDefault();
      cancel.click();
    }
  });

  // ---- toasts -------------------------------------------------------------
  function toastRegion() {
    var region = document.getElementById('toasts');
    if (!region) {
      region = document.createElement('div');
      region.id = 'toasts';
      document.body.appendChild(region);
    }
    if (!region.hasAttribute('aria-live')) {
      region.setAttribute('role', 'status');
      region.setAttribute('aria-live', 'polite');
    }
    return region;
  }

  function dismissToast(toast) {
    if (!toast.isConnected) return;
    toast.classList.add('leaving');
    setTimeout(function () { toast.remove(); }, 200);
  }

  function armToast(toast) {
    if (toast._lkArmed) return;
    toast._lkArmed = true;
    if (!$('.toast-close', toast)) {
      var close = document.createElement('button');
      close.type = 'button';
      close.className = 'toast-close';
      close.setAttribute('aria-label', 'Dismiss');
      close.textContent = '\u00d7';
      toast.appendChild(close);
    }
    $('.toast-close', toast).addEventListener('click', function () { dismissToast(toast); });
    if (!toast.hasAttribute('data-sticky')) {
      setTimeout(function () { dismissToast(toast); }, TOAST_MS);
    }
  }

  function showToast(message, level) {
    if (!message) return;
    var toast = document.createElement('div');
    toast.className = 'toast toast-' + (TOAST_LEVELS[level] ? level : 'info');
    var text = document.createElement('div');
    text.className = 'toast-message';
    text.textContent = String(message);
    toast.appendChild(text);
    toastRegion().appendChild(toast);
    armToast(toast);
  }

  document.addEventListener('showToast', function (e) {
    var d = e.detail || {};
    if (typeof d.value === 'string') { showToast(d.value, 'info'); return; }
    showToast(d.message, d.level);
  });

  // ---- select[data-searchable] ---------------------------------------------
  function enhanceSearchable(select) {
    if (select._lkSearchable) return;
    select._lkSearchable = true;
    // Snapshot the original structure (options and optgroups) once.
    var items = Array.prototype.map.call(select.children, function (node) {
      return { node: node, options: node.tagName === 'OPTGROUP' ? Array.prototype.slice.call(node.children) : null };
    });
    var wrap = document.createElement('div');
    wrap.className = 'combo';
    var filter = document.createElement('input');
    filter.type = 'search';
    filter.className = 'combo-filter';
    filter.autocomplete = 'off';
    filter.placeholder = select.getAttribute('data-searchable') || 'Type to filter\u2026';
    filter.setAttribute('aria-label', 'Filter options');
    filter.setAttribute('data-autosubmit-ignore', '');
    if (select.id) filter.setAttribute('aria-controls', select.id);
    select.parentNode.insertBefore(wrap, select);
    wrap.appendChild(filter);
    wrap.appendChild(select);

    function hit(opt, q) {
      return opt.textContent.toLowerCase().indexOf(q) !== -1 || opt.value.toLowerCase().indexOf(q) !== -1;
    }
    // The selected option always stays, so filtering never changes the value.
    function matches(opt, q) { return opt.selected || !q || hit(opt, q); }

    filter.addEventListener('input', function () {
      var q = filter.value.trim().toLowerCase();
      var frag = document.createDocumentFragment();
      items.forEach(function (item) {
        if (!item.options) {
          if (matches(item.node, q)) frag.appendChild(item.node);
          return;
        }
        var keep = item.options.filter(function (o) { return matches(o, q); });
        item.node.replaceChildren.apply(item.node, keep);
        if (keep.length) frag.appendChild(item.node);
      });
      select.replaceChildren(frag);
    });

    filter.addEventListener('keydown', function (e) {
      if (e.key === 'Enter') {
        // Select the first matching option, without submitting the form.
        e.preventDefault();
        var q = filter.value.trim().toLowerCase();
        var first = q && Array.prototype.find.call(select.options, function (o) { return !o.disabled && hit(o, q); });
        if (first && !first.selected) {
          select.value = first.value;
          select.dispatchEvent(new Event('change', { bubbles: true }));
        }
        select.focus();
      } else if (e.key === 'ArrowDown') {
        e.preventDefault();
        select.focus();
      }
    });
  }

  // ---- init + htmx hooks --------------------------------------------------
  function enhance(root) {
    if (!root || !root.querySelectorAll) return;
    if (root.matches && root.matches('select[data-searchable]')) enhanceSearchable(root);
    root.querySelectorAll('select[data-searchable]').forEach(enhanceSearchable);
    root.querySelectorAll('#toasts .toast').forEach(armToast);
    if (root.matches && root.matches('#toasts .toast')) armToast(root);
  }

  enhance(document);
  document.addEventListener('htmx:load', function (e) { enhance(e.target); });

  document.addEventListener('htmx:afterSettle', function (e) {
    var root = e.target;
    if (!root || !root.querySelector) return;
    var sel = '[autofocus], [data-autofocus]';
    var el = root.matches(sel) ? root : root.querySelector(sel);
    if (!el || el === document.activeElement || typeof el.focus !== 'function') return;
    // Don't yank the caret out of a field the user is typing in elsewhere
    // (e.g. a polled or SSE-swapped fragment).
    var active = document.activeElement;
    var typing = active && active.isConnected && !root.contains(active) &&
      (/^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName) || active.isContentEditable);
    if (!typing) el.focus();
  });
})();
