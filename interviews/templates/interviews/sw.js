{% load static %}// The interview pages' service worker (scope /interviews/). It keeps the offline page, the
// offline copy of the record form and the static files they need, and nothing else: no page
// with a child's details is ever cached (they are sent with Cache-Control: no-store). An
// interview's record page that cannot load offline is answered with the offline copy of the
// form, which fills itself from the encrypted draft on the tablet (decision 0062); any other
// interview page with the offline page, which says where the draft is.
const CACHE = 'rhi-offline-v2'
const OFFLINE = '{% url "interviews:offline" %}'
const SHELL = '{% url "interviews:record_offline" %}'
const RECORD = /^\/interviews\/\d+\/record\/$/
const STATIC = '{% get_static_prefix %}'
const ASSETS = [
  '{% static "css/app.css" %}',
  '{% static "govuk/govuk-frontend.min.css" %}',
  '{% static "govuk/govuk-frontend.min.js" %}',
  '{% static "js/init.js" %}',
  '{% static "js/interview-offline.js" %}',
  '{% static "js/interview-record-offline.js" %}',
  '{% static "js/drafts-store.js" %}',
  '{% static "js/draft-crypto.js" %}',
  '{% static "js/record-fields.js" %}',
  // Module imports are relative and not rewritten to hashed names: the plain names too.
  `${STATIC}govuk/govuk-frontend.min.js`,
  `${STATIC}js/drafts-store.js`,
  `${STATIC}js/draft-crypto.js`,
  `${STATIC}js/record-fields.js`
]

// Fill the cache with whatever it lacks. One by one: a missing stylesheet (GOV.UK Frontend not
// built) must not stop the rest.
async function fill () {
  const cache = await caches.open(CACHE)
  await Promise.all([OFFLINE, SHELL, ...ASSETS].map(async (url) => {
    if (!(await cache.match(url))) await cache.add(url).catch(() => {})
  }))
}

self.addEventListener('install', (event) => {
  event.waitUntil(fill().then(() => self.skipWaiting()))
})

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name !== CACHE) await caches.delete(name)
    }
    await self.clients.claim()
  })())
})

async function offlineAnswer (url) {
  const shell = RECORD.test(url.pathname) ? await caches.match(SHELL) : null
  return shell || caches.match(OFFLINE)
}

self.addEventListener('fetch', (event) => {
  const request = event.request
  if (request.method !== 'GET') return
  const url = new URL(request.url)
  if (request.mode === 'navigate') {
    event.respondWith(fetch(request).catch(() => offlineAnswer(url)))
    // The sign-in page empties the caches: a record page opened again fills them again.
    if (RECORD.test(url.pathname)) event.waitUntil(fill().catch(() => {}))
    return
  }
  if (url.origin === self.location.origin && ASSETS.includes(url.pathname)) {
    event.respondWith(fetch(request).catch(() => caches.match(request)))
  }
})
