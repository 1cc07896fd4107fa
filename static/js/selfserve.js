/*
 * Latchkey — behaviours of the end users' self-serve pages.
 *
 * Loaded with `defer` after htmx by the self-serve layout (the signed-in
 * app's app.js is not loaded there: the pages stay light). The CSP forbids
 * inline scripts, so every behaviour is opted into with a data attribute.
 *
 *   data-reveal="#input"   toggle a password input's visibility (aria-pressed, Show/Hide)
 *   data-deadline="ms"     count down to the Unix time in ms ("1:05 left")
 *   button[data-busy]      on submit: disable the form's buttons, show the text in
 *                          the button (or its [data-busy-label]); a second submit
 *                          of the form is dropped
 *   [data-push-subscribe]  (static/js/push.js) on success go to data-next;
 *                          on failure show the page's [data-push-error]
 */
(function () {
  'use strict';

  function $(sel) {
    try { return document.querySelector(sel); } catch (e) { return null; }
  }

  document.addEventListener('click', function (e) {
    var btn = e.target.closest && e.target.closest('[data-reveal]');
    if (!btn) return;
    var input = $(btn.getAttribute('data-reveal'));
    if (!input) return;
    e.preventDefault();
    var show = input.type === 'password';
    input.type = show ? 'text' : 'password';
    btn.setAttribute('aria-pressed', show ? 'true' : 'false');
    btn.textContent = show ? 'Hide' : 'Show';
  });

  function tick() {
    var els = document.querySelectorAll('[data-deadline]');
    for (var i = 0; i < els.length; i++) {
      var left = Math.max(0, Math.round((Number(els[i].getAttribute('data-deadline')) - Date.now()) / 1000));
      var m = Math.floor(left / 60), s = left % 60;
      els[i].textContent = left > 0 ? m + ':' + (s < 10 ? '0' : '') + s + ' left' : 'Time is up';
    }
  }
  setInterval(tick, 1000);
  document.addEventListener('DOMContentLoaded', tick);
  document.addEventListener('htmx:afterSwap', tick);

  document.addEventListener('submit', function (e) {
    var btn = e.submitter;
    if (!btn || !btn.hasAttribute('data-busy') || e.defaultPrevented) return;
    var form = e.target;
    if (form.hasAttribute('data-busy-sent')) { // a second tap before the first answer
      e.preventDefault();
      return;
    }
    form.setAttribute('data-busy-sent', '');
    // After the browser has taken the form's values (the submitter's too):
    // every submit button of the form waits, the tapped one says why.
    setTimeout(function () {
      var bs = form.querySelectorAll('button[type="submit"], button:not([type])');
      for (var i = 0; i < bs.length; i++) bs[i].disabled = true;
      btn.setAttribute('aria-busy', 'true');
      var label = btn.querySelector('[data-busy-label]') || btn;
      label.textContent = btn.getAttribute('data-busy');
    }, 0);
  });

  // Back to a page the browser kept: its buttons work again.
  window.addEventListener('pageshow', function (e) {
    if (!e.persisted) return;
    var forms = document.querySelectorAll('form[data-busy-sent]');
    for (var i = 0; i < forms.length; i++) forms[i].removeAttribute('data-busy-sent');
    var bs = document.querySelectorAll('button[aria-busy="true"], form button:disabled');
    for (var j = 0; j < bs.length; j++) { bs[j].disabled = false; bs[j].removeAttribute('aria-busy'); }
  });

  document.addEventListener('latchkey:push-subscribed', function (e) {
    var next = e.target.getAttribute('data-next');
    if (next) window.location.assign(next);
  });
  document.addEventListener('latchkey:push-failed', function () {
    var el = $('[data-push-error]');
    if (el) el.hidden = false;
  });

  // Leaving the page (or the browser keeping it for Back): forget typed secrets.
  window.addEventListener('pagehide', function () {
    var ins = document.querySelectorAll('input[type="password"], input[name="password"], input[name="code"]');
    for (var i = 0; i < ins.length; i++) ins[i].value = '';
  });
})();
