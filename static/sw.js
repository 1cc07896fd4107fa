/*
 * Latchkey — service worker for end users' web push notifications.
 *
 * Served at /sw.js (scope "/") so that it covers the self-serve pages.
 * Registered by static/js/push.js when the enrolment page subscribes.
 *
 *   push               → show the notification (title, body; the payload is
 *                        JSON: {title, body, url, id, kind})
 *   notificationclick  → open (or focus) the payload's url, only on this
 *                        origin (the approval page of a verification)
 */
'use strict';

self.addEventListener('install', function () {
  self.skipWaiting();
});

self.addEventListener('activate', function (event) {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('push', function (event) {
  var data = {};
  if (event.data) {
    var text = event.data.text();
    try { data = JSON.parse(text); } catch (e) { data = null; }
    // Plain text, or JSON that is not an object ("739105", null): the text.
    if (!data || typeof data !== 'object') data = { body: text };
  }
  var title = data.title || 'Latchkey';
  var options = {
    body: data.body || '',
    tag: data.id || undefined,          // a newer push for the same verification replaces it
    renotify: !!data.id,
    requireInteraction: data.kind === 'verification',
    data: { url: data.url || '' },
    icon: '/static/img/favicon.svg',
    badge: '/static/img/favicon.svg'
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', function (event) {
  event.notification.close();
  var raw = event.notification.data && event.notification.data.url;
  if (!raw) return;
  var target;
  try { target = new URL(raw, self.location.origin); } catch (e) { return; }
  if (target.origin !== self.location.origin) return; // never open another site
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(function (list) {
      for (var i = 0; i < list.length; i++) {
        var c = list[i];
        if (c.url === target.href && 'focus' in c) return c.focus();
      }
      return self.clients.openWindow(target.href);
    })
  );
});
