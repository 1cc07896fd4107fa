/*
 * Latchkey — progressive-enhancement behaviours.
 *
 * Loaded with `defer` after htmx. The CSP forbids inline scripts, so every
 * behaviour here is opted into with a data attribute; templates need no JS.
 * Works without htmx (htmx events simply never fire). htmx itself is
 * configured via <meta name="htmx-config">, never from here.
 *
 *   data-confirm="msg"        confirm() before submit/click; cancel if declined
 *   data-confirm-unchecked="msg"  on a checkbox: confirm() before its form is
 *                             submitted with the box unchecked
 *   data-copy="#sel"          copy the value/text of #sel to the clipboard
 *   data-copy-text="text"     copy the literal text
 *   data-reveal="#input"      toggle a password input's visibility (aria-pressed)
 *   form[data-autosubmit]     submit on change (text inputs debounced 300ms)
 *   data-escape-cancel        Escape inside clicks the contained [data-cancel]
 *   select[data-searchable]   add a type-to-filter input above the select
 *   data-autofocus            focused after an htmx swap, unless the user moved on
 *   data-focus-fallback       focused after an htmx swap that lost the focus
 *   form[role=search]         GET search forms follow the address (Back, reload)
 *   details[data-filters]     "(N active)" in [data-filters-active]; open when wide
 *   [data-select-scope]       header box, banner and count follow row boxes
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
      return;
    }
    var off = form.querySelector && form.querySelector('input[data-confirm-unchecked]:not(:checked)');
    if (off && !window.confirm(off.getAttribute('data-confirm-unchecked'))) {
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

  // ---- the main menu as a phone's top bar -----------------------------------
  // At phone widths the menu is one row that scrolls sideways (app.css): show
  // the current page's link, and mark the sides that hide more links so that
  // they fade out as a hint.
  function navHints(nav) {
    var max = nav.scrollWidth - nav.clientWidth;
    nav.classList.toggle('nav-more-left', max > 1 && nav.scrollLeft > 1);
    nav.classList.toggle('nav-more-right', max > 1 && nav.scrollLeft < max - 1);
  }
  document.querySelectorAll('.nav').forEach(function (nav) {
    var current = nav.querySelector('a[aria-current="page"]');
    if (current && nav.scrollWidth > nav.clientWidth) {
      var r = current.getBoundingClientRect(), n = nav.getBoundingClientRect();
      if (r.right > n.right || r.left < n.left) nav.scrollLeft += r.left - n.left - (n.width - r.width) / 2;
    }
    navHints(nav);
    nav.addEventListener('scroll', function () { navHints(nav); }, { passive: true });
    window.addEventListener('resize', function () { navHints(nav); });
  });

  // ---- focus after htmx swaps ---------------------------------------------
  // htmx gives the focus back to an element with the focused one's id; any
  // other swap that removes the focused element drops it on <body>. After a
  // swap, [data-autofocus] in the new content takes the focus unless the user
  // has put it somewhere else since the request began (a click or Tab while
  // an edit was being saved: never pull them back into the field); failing
  // that, when the focus was lost, [data-focus-fallback] takes it (a results
  // summary after paging), so keyboard and screen-reader users keep their
  // place. htmx focuses [autofocus] itself, unconditionally: swapped content
  // uses data-autofocus.
  document.addEventListener('htmx:beforeRequest', function (e) {
    var xhr = e.detail && e.detail.xhr;
    if (xhr) xhr._lkFocus = document.activeElement;
  });

  function isTyping(el) {
    return /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName) || el.isContentEditable;
  }

  // movedOn reports whether the focus is somewhere the user chose since the
  // request began (start: the element focused then; undefined for swaps
  // that no request of this page began, such as a history restore).
  function movedOn(root, start) {
    var active = document.activeElement;
    if (nowhere(root)) return false;
    if (start === undefined || active === start) {
      // The same place: only a field the user is typing in elsewhere is kept.
      return !root.contains(active) && isTyping(active);
    }
    if (start && start.id && active.id === start.id) return false; // htmx gave it back
    return true;
  }

  // nowhere reports whether the focus is on no control: on <body>, or on a
  // container around the swapped content (a click on the page's blank space
  // focuses <main tabindex=-1>).
  function nowhere(root) {
    var active = document.activeElement;
    return !active || active === document.body || !active.isConnected || active.contains(root);
  }

  function within(root, sel) {
    return root.matches(sel) ? root : root.querySelector(sel);
  }

  // Decided as soon as the content is in (afterSwap, not afterSettle): two
  // swaps in flight (a save on leaving a cell, the editor of the cell
  // clicked) must each see where the focus is before the other moves it.
  document.addEventListener('htmx:afterSwap', function (e) {
    var root = e.target;
    if (!root || !root.querySelector || !root.isConnected) return;
    var xhr = e.detail && e.detail.xhr;
    var start = xhr ? xhr._lkFocus : undefined;
    var el = within(root, '[autofocus], [data-autofocus]');
    if (el && typeof el.focus === 'function') {
      if (el !== document.activeElement && !movedOn(root, start)) el.focus();
      return;
    }
    if (nowhere(root) && start && !start.isConnected) {
      el = within(root, '[data-focus-fallback]');
      if (el) el.focus();
    }
  });

  // ---- search forms follow the address ---------------------------------------
  // A GET search form (role=search) whose action is this page stands for the
  // address's query. htmx's history snapshot keeps the form's HTML as first
  // rendered, not what was typed or chosen since, and a reload may bring
  // back what the browser remembered: after either, each control is set from
  // the address (absent: empty, or a select's first option). Hidden fields
  // are the server's, and left alone.
  function syncSearchForms() {
    var params = new URLSearchParams(location.search);
    document.querySelectorAll('form[role="search"]').forEach(function (form) {
      if ((form.getAttribute('method') || '').toLowerCase() !== 'get') return;
      var action;
      try { action = new URL(form.getAttribute('action') || '', location.href); } catch (err) { return; }
      if (action.pathname !== location.pathname) return;
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || /^(hidden|submit|button|reset|image|file)$/.test(el.type)) return;
        var vals = params.getAll(el.name);
        if (el.type === 'checkbox' || el.type === 'radio') {
          el.checked = vals.indexOf(el.value) !== -1;
        } else if (el.tagName === 'SELECT') {
          var v = vals.length ? vals[vals.length - 1] : '';
          var opt = Array.prototype.find.call(el.options, function (o) { return o.value === v; });
          el.selectedIndex = opt ? opt.index : 0;
        } else {
          el.value = vals.length ? vals[vals.length - 1] : '';
        }
      });
      countFilters(form);
    });
  }

  // ---- details[data-filters] -------------------------------------------------
  // The filters' summary says how many are on: the controls inside with a
  // value, less those inside [data-filters-ignore] (the sort).
  function countFilters(root) {
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll('details[data-filters]').forEach(function (d) {
      var n = 0;
      d.querySelectorAll('select[name], input[name]').forEach(function (el) {
        if (el.type !== 'hidden' && el.value !== '' && !el.closest('[data-filters-ignore]')) n++;
      });
      var out = $('[data-filters-active]', d);
      var text = n ? ' (' + n + ' active)' : '';
      if (out && out.textContent !== text) out.textContent = text;
    });
  }

  function filtersChanged(e) {
    var form = e.target.form || (e.target.closest && e.target.closest('form'));
    if (form && $('details[data-filters]', form)) countFilters(form);
  }
  document.addEventListener('input', filtersChanged);
  document.addEventListener('change', filtersChanged);

  // Wide screens show the filters open: CSS does where ::details-content can
  // be styled; elsewhere they are opened here.
  var WIDE = '(min-width: 641px)';
  function openFiltersWhenWide(root) {
    if (window.CSS && CSS.supports && CSS.supports('selector(::details-content)')) return;
    if (!window.matchMedia || !window.matchMedia(WIDE).matches) return;
    root.querySelectorAll('details[data-filters]').forEach(function (d) { d.open = true; });
  }

  // ---- [data-select-scope] -----------------------------------------------------
  // The row boxes (tbody input[name="ids"]) lead: the header box
  // ([data-select-page]) is ticked, mixed or clear with them, the page's
  // banner ([data-select-banner="page"]) shows only while every row is
  // ticked, and [data-select-count] says how many are (a polite live
  // region). Unticking a row drops "every end user matching" for the rows
  // ticked: the hidden field all=1, the banner ([data-select-all]) and the
  // confirmations that named that count ([data-select-all-confirm]) go.
  function syncSelection(scope, changed) {
    var items = scope.querySelectorAll('tbody input[type="checkbox"][name="ids"]');
    var n = 0;
    items.forEach(function (i) { if (i.checked) n++; });
    var every = items.length > 0 && n === items.length;
    if (changed && !changed.checked) {
      scope.querySelectorAll('input[type="hidden"][name="all"], [data-select-all]').forEach(function (el) { el.remove(); });
      scope.querySelectorAll('[data-select-all-confirm]').forEach(function (el) { el.removeAttribute('hx-confirm'); });
      scope.classList.remove('eu-all-selected');
    }
    var allMode = !!$('input[type="hidden"][name="all"]', scope);
    var head = $('[data-select-page]', scope);
    if (head) {
      head.checked = allMode || every;
      head.indeterminate = !allMode && n > 0 && !every;
    }
    var banner = $('[data-select-banner="page"]', scope);
    if (banner) banner.hidden = !every;
    var count = $('[data-select-count]', scope);
    if (count && !allMode) {
      var text = n ? n + ' selected' : 'None selected';
      if (count.textContent.trim() !== text) count.textContent = text;
    }
  }

  document.addEventListener('change', function (e) {
    var el = e.target;
    if (!el.matches || !el.matches('tbody input[type="checkbox"][name="ids"]')) return;
    var scope = el.closest('[data-select-scope]');
    if (scope) syncSelection(scope, el);
  });

  function syncSelections(root) {
    if (root.matches && root.matches('[data-select-scope]')) syncSelection(root);
    root.querySelectorAll('[data-select-scope]').forEach(function (s) { syncSelection(s); });
  }

  enhanceGrid(document);
  syncSearchForms();
  document.addEventListener('htmx:load', function (e) { if (e.target && e.target.querySelectorAll) enhanceGrid(e.target); });
  document.addEventListener('htmx:historyRestore', function () { syncSearchForms(); syncSelections(document); });
  window.addEventListener('pageshow', function () { syncSearchForms(); syncSelections(document); });

  function enhanceGrid(root) {
    countFilters(root);
    openFiltersWhenWide(root);
    syncSelections(root);
  }
})();
