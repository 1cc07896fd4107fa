/*
 * Latchkey — web push subscription for an end user's enrolled device.
 *
 * Loaded with `defer` on the self-serve pages that offer notifications.
 * Exposes window.LatchkeyPush:
 *
 *   LatchkeyPush.supported()          → true when this browser can do web push
 *   LatchkeyPush.register()           → Promise<ServiceWorkerRegistration> (/sw.js, scope "/")
 *   LatchkeyPush.subscribe(vapidKey)  → Promise<object>: asks for permission, subscribes
 *                                       with the server's VAPID public key (base64url) and
 *                                       resolves with PushSubscription.toJSON()
 *                                       ({endpoint, keys: {p256dh, auth}}) to send to the server
 *   LatchkeyPush.save(json, url)      → Promise: POSTs the subscription JSON to url
 *                                       (default /self-serve/push/subscription; the device
 *                                       cookie says which device) with the page's CSRF token
 *
 * And one data attribute (CSP: no inline script):
 *
 *   <button data-push-subscribe data-vapid-key="…" [data-push-save="/url"]>
 *     on click: subscribe, save, then fire `latchkey:push-subscribed` (or
 *     `latchkey:push-failed` with detail.reason) on the button. Without
 *     data-vapid-key the key is fetched from /self-serve/push/key.
 */
(function () {
  'use strict';

  function supported() {
    return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  }

  function register() {
    return navigator.serviceWorker.register('/sw.js', { scope: '/' }).then(function () {
      return navigator.serviceWorker.ready;
    });
  }

  function keyBytes(b64url) {
    var s = b64url.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var raw = atob(s);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function subscribe(vapidKey) {
    if (!supported()) return Promise.reject(new Error('unsupported'));
    return Notification.requestPermission().then(function (perm) {
      if (perm !== 'granted') throw new Error('denied');
      return register();
    }).then(function (reg) {
      return reg.pushManager.getSubscription().then(function (sub) {
        if (sub) return sub;
        return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(vapidKey) });
      });
    }).then(function (sub) {
      return sub.toJSON();
    });
  }

  function csrfToken() {
    try {
      var h = JSON.parse(document.body.getAttribute('hx-headers') || '{}');
      if (h['X-CSRF-Token']) return h['X-CSRF-Token'];
    } catch (e) { /* fall through */ }
    var input = document.querySelector('input[name="_csrf"]');
    return input ? input.value : '';
  }

  function save(json, url) {
    return fetch(url || '/self-serve/push/subscription', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrfToken() },
      body: JSON.stringify(json)
    }).then(function (res) {
      if (!res.ok) throw new Error('save failed: ' + res.status);
      return json;
    });
  }

  function key(btn) {
    var k = btn.getAttribute('data-vapid-key');
    if (k) return Promise.resolve(k);
    return fetch('/self-serve/push/key', { credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) throw new Error('no key');
      return r.text();
    });
  }

  document.addEventListener('click', function (e) {
    var btn = e.target.closest && e.target.closest('[data-push-subscribe]');
    if (!btn) return;
    e.preventDefault();
    btn.setAttribute('aria-busy', 'true');
    key(btn).then(subscribe).then(function (json) {
      return save(json, btn.getAttribute('data-push-save') || undefined);
    }).then(function () {
      btn.removeAttribute('aria-busy');
      btn.dispatchEvent(new CustomEvent('latchkey:push-subscribed', { bubbles: true }));
    }, function (err) {
      btn.removeAttribute('aria-busy');
      btn.dispatchEvent(new CustomEvent('latchkey:push-failed', { bubbles: true, detail: { reason: String(err && err.message || err) } }));
    });
  });

  window.LatchkeyPush = { supported: supported, register: register, subscribe: subscribe, save: save };
})();
