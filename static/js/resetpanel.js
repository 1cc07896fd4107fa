/*
 * Latchkey — the technician's password reset panel (views/pages/resetpanel).
 *
 * Loaded with `defer` by the panel itself, after app.js (which reveals and
 * copies: data-reveal, data-copy). Event delegation on the document, so a
 * panel swapped in later (or embedded in a PSA pod) works too; loading the
 * file twice is harmless.
 *
 *   input[data-rp-sync="#other"]  keep the length slider and its number box equal
 *   [data-reveal] in the panel    label the eye button Show / Hide
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

  document.addEventListener('click', function (e) {
    var btn = e.target.closest && e.target.closest('#reset-panel [data-reveal]');
    if (!btn) return;
    setTimeout(function () {
      btn.textContent = btn.getAttribute('aria-pressed') === 'true' ? 'Hide' : 'Show';
    }, 0);
  });

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
