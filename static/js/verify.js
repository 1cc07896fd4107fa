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
 *   .verify-panel[data-announce]     a panel swapped in (a click, a live update)
 *                                    is announced once through a polite live
 *                                    region of this script's own (the panel is
 *                                    not one: its countdown would be read every
 *                                    second), with sparse time warnings; when
 *                                    focus was lost with the old panel, it moves
 *                                    to the new stage's [data-verify-focus] (or
 *                                    its chosen method).
 *
 * The live update itself is htmx's SSE extension (sse-connect on the panel).
 */
(function () {
  'use strict';

  var TICK_MS = 250;
  var GRACE_MS = 300; // let the server's deadline pass before asking
  var WARN_SECONDS = [30, 10]; // a push's countdown: announced once each
  var WARN_MINUTES = [60]; // a code's countdown (m:ss)

  // announce reads text out once (a live region outside the panels).
  var announcer = null;
  function announce(text) {
    if (!text) return;
    if (!announcer || !document.body.contains(announcer)) {
      announcer = document.createElement('div');
      announcer.className = 'sr-only';
      announcer.setAttribute('role', 'status');
      announcer.setAttribute('aria-live', 'polite');
      announcer.setAttribute('data-testid', 'verify-announcer');
      document.body.appendChild(announcer);
    }
    // Clear, then set on the next frame, so that the same text twice is read twice.
    announcer.textContent = '';
    setTimeout(function () { announcer.textContent = text; }, 50);
  }

  function secondsText(left) {
    if (left >= 60 && left % 60 === 0) return (left / 60) + (left === 60 ? ' minute' : ' minutes') + ' left.';
    return left + ' seconds left.';
  }

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
    var warnAt = (minutes ? WARN_MINUTES : WARN_SECONDS).slice();
    var lastLeft = null;

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
      // A warning when the countdown crosses a mark (not when it starts below one).
      if (lastLeft !== null) {
        for (var i = 0; i < warnAt.length; i++) {
          if (lastLeft > warnAt[i] && left <= warnAt[i]) {
            announce(secondsText(warnAt[i]));
            warnAt.splice(i, 1);
            break;
          }
        }
      }
      lastLeft = left;
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

  // A new panel (swapped in, not the page's first render): announce its
  // stage, and give focus back when it went with the old panel.
  function arrived(panel) {
    announce(panel.getAttribute('data-announce'));
    var active = document.activeElement;
    if (active && active !== document.body && document.body.contains(active)) return;
    var target = panel.querySelector('[data-verify-focus]') ||
      panel.querySelector('input[name="method"]:checked:not(:disabled)') ||
      panel.querySelector('[role="alert"]');
    if (!target) {
      target = panel;
      if (!panel.hasAttribute('tabindex')) panel.setAttribute('tabindex', '-1');
    }
    if (target.tagName !== 'INPUT' && !target.hasAttribute('tabindex')) target.setAttribute('tabindex', '-1');
    target.focus({ preventScroll: false });
  }

  function scan(root) {
    if (!root || !root.querySelectorAll) return;
    if (root !== document.body && root !== document && root.matches && root.matches('.verify-panel')) arrived(root);
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
