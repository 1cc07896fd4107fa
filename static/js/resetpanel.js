/*
 * Latchkey — the technician's password reset panel (views/pages/resetpanel).
 *
 * Loaded with `defer` by the panel itself, after app.js (which reveals and
 * copies: data-reveal, data-copy). Event delegation on the document, so a
 * panel swapped in later (or embedded in a PSA pod) works too; loading the
 * file twice is harmless.
 *
 *   input[data-rp-sync="#other"]  keep the length slider and its number box equal;
 *                                 the box, once left, shows the length used
 *                                 (clamped to its min/max) and says why
 *   form[data-rp-form] submit     refused while the live check lists
 *                                 violations (the Reset button is disabled
 *                                 then), else confirmed, naming the end user
 *                                 and whether the password is temporary; the
 *                                 server still checks everything
 *   typing, or Generate           clears the last reset's result
 *   form[data-rp-form]            leaving the page (or the browser keeping it
 *                                 for Back) empties the password field and its
 *                                 check: the password stays on screen while
 *                                 the panel is open (to read it out or copy
 *                                 it), never after
 */
(function () {
  'use strict';
  if (window.LatchkeyResetPanel) return;
  window.LatchkeyResetPanel = true;

  document.addEventListener('input', function (e) {
    var el = e.target;
    if (!el.matches || !el.matches('input[data-rp-sync]')) return;
    var other = document.querySelector(el.getAttribute('data-rp-sync'));
    if (other && other.value !== el.value) other.value = el.value;
  });

  // The number box shows the length the generator will use.
  document.addEventListener('change', function (e) {
    var el = e.target;
    if (!el.matches || !el.matches('#reset-panel input[type="number"][data-rp-sync]')) return;
    var min = Number(el.min), max = Number(el.max), n = Math.round(Number(el.value));
    var note = document.getElementById('rp-length-note');
    var used = isNaN(n) ? min : Math.min(max, Math.max(min, n));
    var msg = '';
    if (String(used) !== el.value) {
      msg = n < min || isNaN(n) ? 'Set to ' + used + ': the shortest allowed here.'
        : 'Set to ' + used + ': the longest allowed here.';
    }
    el.value = String(used);
    var other = document.querySelector(el.getAttribute('data-rp-sync'));
    if (other) other.value = el.value;
    if (note) note.textContent = msg;
  });

  function violations(form) {
    return !!form.querySelector('[data-testid="rp-violations"]');
  }

  // The Reset button follows the live check.
  function sync(form) {
    var btn = form.querySelector('button[type="submit"]');
    if (btn) btn.disabled = violations(form);
  }
  document.addEventListener('htmx:afterSettle', function (e) {
    var form = e.target.closest && e.target.closest('form[data-rp-form]');
    if (form) sync(form);
  });

  function clearResult(form) {
    var panel = form.closest('#reset-panel');
    var result = panel && panel.querySelector('#directory-result');
    if (result) result.innerHTML = '';
  }
  document.addEventListener('input', function (e) {
    if (e.target.matches && e.target.matches('form[data-rp-form] input[name="password"]')) clearResult(e.target.form);
  });
  document.addEventListener('htmx:beforeRequest', function (e) {
    var el = e.detail && e.detail.elt;
    if (el && el.matches && el.matches('form[data-rp-form] button[name="kind"]')) clearResult(el.form);
  });

  // Capture phase on the document: before htmx's own submit listener.
  document.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form.matches || !form.matches('form[data-rp-form]')) return;
    var input = form.querySelector('input[name="password"]');
    var stop = function () { e.preventDefault(); e.stopImmediatePropagation(); };
    if (violations(form)) {
      stop();
      sync(form);
      if (input) input.focus();
      return;
    }
    var name = form.getAttribute('data-rp-name') || 'this end user';
    var temp = form.querySelector('input[name="temporary"]');
    var msg = 'Reset the password of ' + name + '? ' + (temp && temp.checked
      ? 'Temporary: they must change it at next logon.'
      : 'Not temporary: they keep this password.');
    if (!window.confirm(msg)) stop();
  }, true);

  function forget(form) {
    var input = form.querySelector('input[name="password"]');
    if (input) {
      input.value = '';
      input.type = 'password';
    }
    var eye = form.querySelector('[data-reveal]');
    if (eye) {
      eye.setAttribute('aria-pressed', 'false');
      eye.textContent = 'Show';
    }
    var check = form.querySelector('#rp-check');
    if (check) check.innerHTML = '';
    var gen = form.querySelector('[data-testid="rp-generated"]');
    if (gen) gen.remove();
  }

  window.addEventListener('pagehide', function () {
    var forms = document.querySelectorAll('form[data-rp-form]');
    for (var i = 0; i < forms.length; i++) forget(forms[i]);
  });
})();
