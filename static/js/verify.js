/*
 * Latchkey — identity verification panel and approval page.
 *
 * Loaded with `defer` (after htmx and its SSE extension) where a
 * verification panel or an approval page is shown. The CSP forbids inline
 * scripts: behaviour comes from data attributes.
 *
 *   [data-countdown-deadline="ms"]   count down to the server's deadline (Unix
 *        [data-countdown-now="ms"]   ms; the server's now at render corrects
 *                                    this device's clock). Writes the seconds
 *                                    (or m:ss with data-countdown-minutes) into
 *                                    [data-countdown-text] and the value of
 *                                    [data-countdown-bar]; at zero it fires
 *                                    `verify-expired` on the element (htmx asks
 *                                    the server, whose clock decides), or
 *                                    reloads the page with data-countdown-reload.
 *   [data-verify-done]               a panel that reached an outcome: fires
 *                                    `verify-changed` on <body> (the history
 *                                    reloads itself); so does every live update.
 *
 * The live update itself is htmx's SSE extension (sse-connect on the panel).
 */
(function () {
  'use strict';

  var TICK_MS = 250;
  var GRACE_MS = 300; // let the server's deadline pass before asking

  function fmt(left, minutes) {
    if (!minutes) return String(left);
    var m = Math.floor(left / 60);
    var s = left % 60;
    return m + ':' + (s < 10 ? '0' : '') + s;
  }

  function start(el) {
    if (el._lkCountdown) return;
    var deadline = Number(el.getAttribute('data-countdown-deadline'));
    if (!deadline) return;
    var serverNow = Number(el.getAttribute('data-countdown-now'));
    var skew = serverNow ? serverNow - Date.now() : 0; // server clock minus ours
    var minutes = el.hasAttribute('data-countdown-minutes');
    var text = el.querySelector('[data-countdown-text]') || el;
    var bar = el.querySelector('[data-countdown-bar]');
    var startedLate = deadline - (Date.now() + skew) <= 0;
    var fired = false;

    function tick() {
      if (!document.body.contains(el)) {
        clearInterval(el._lkCountdown);
        return;
      }
      var ms = deadline - (Date.now() + skew);
      var left = Math.max(0, Math.ceil(ms / 1000));
      text.textContent = fmt(left, minutes);
      el.setAttribute('data-seconds-left', String(left));
      if (bar) bar.value = left;
      if (ms <= 0 && !fired) {
        fired = true;
        clearInterval(el._lkCountdown);
        // Already at zero when shown: the server said "not yet"; ask again later.
        setTimeout(function () { expire(el); }, startedLate ? 1000 : GRACE_MS);
      }
    }
    tick();
    el._lkCountdown = setInterval(tick, TICK_MS);
  }

  function expire(el) {
    if (!document.body.contains(el)) return;
    if (el.hasAttribute('data-countdown-reload')) {
      window.location.reload();
      return;
    }
    if (window.htmx) {
      window.htmx.trigger(el, 'verify-expired');
    } else {
      window.location.reload();
    }
  }

  // Tell the history to reload, once for a burst (a live update also loads
  // a finished panel).
  var changedTimer = null;
  function changed() {
    if (changedTimer) return;
    changedTimer = setTimeout(function () {
      changedTimer = null;
      document.body.dispatchEvent(new CustomEvent('verify-changed', { bubbles: true }));
    }, 50);
  }

  function scan(root) {
    if (!root || !root.querySelectorAll) return;
    if (root.matches && root.matches('[data-countdown-deadline]')) start(root);
    root.querySelectorAll('[data-countdown-deadline]').forEach(start);
    var done = (root.matches && root.matches('[data-verify-done]')) ? root : root.querySelector('[data-verify-done]');
    if (done && root !== document.body && root !== document) changed();
  }

  document.addEventListener('htmx:load', function (e) { scan(e.target); });
  // A live update (the phone answered, the push fell back to SMS): the
  // history shows the change too.
  document.addEventListener('htmx:sseMessage', changed);
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', function () { scan(document.body); });
  } else {
    scan(document.body);
  }
})();
