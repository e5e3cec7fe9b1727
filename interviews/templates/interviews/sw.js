{% load static %}// The interview pages' service worker (scope /interviews/). It keeps the offline page and the
// static files it needs, and nothing else: no page with a child's details is ever cached
// (they are sent with Cache-Control: no-store). An interview page that cannot load offline is
// answered with the offline page, which tells where the draft is and sends it once back online.
const CACHE = 'rhi-offline-v1'
const OFFLINE = '{% url "interviews:offline" %}'
const ASSETS = [
  '{% static "css/app.css" %}',
  '{% static "govuk/govuk-frontend.min.css" %}',
  '{% static "js/interview-offline.js" %}',
  '{% static "js/drafts-store.js" %}',
  // Module imports are relative and not rewritten to hashed names: the plain name too.
  '{% get_static_prefix %}js/drafts-store.js'
]

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE)
    await cache.add(OFFLINE)
    // One by one: a missing stylesheet (GOV.UK Frontend not built) must not stop the rest.
    await Promise.all(ASSETS.map((url) => cache.add(url).catch(() => {})))
    await self.skipWaiting()
  })())
})

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name !== CACHE) await caches.delete(name)
    }
    await self.clients.claim()
  })())
})

self.addEventListener('fetch', (event) => {
  const request = event.request
  if (request.method !== 'GET') return
  if (request.mode === 'navigate') {
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE)))
    return
  }
  const url = new URL(request.url)
  if (url.origin === self.location.origin && ASSETS.includes(url.pathname)) {
    event.respondWith(fetch(request).catch(() => caches.match(request)))
  }
})
