// Interview drafts kept on the tablet while it is offline: one IndexedDB store, nothing in
// localStorage. A draft is stored encrypted (see interview-record.js); only its ids and the
// time it was saved are in the clear, never anything about the child.

const DB_NAME = 'rhi-drafts'
const STORE = 'drafts'

function openDb () {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1)
    request.onupgradeneeded = () => {
      request.result.createObjectStore(STORE, { keyPath: 'id' })
    }
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error)
  })
}

// Run one request in its own transaction and close the database afterwards, so that signing
// out can always delete it (an open connection would block the deletion).
async function run (mode, makeRequest) {
  const db = await openDb()
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode)
    const request = makeRequest(tx.objectStore(STORE))
    tx.oncomplete = () => { db.close(); resolve(request.result) }
    tx.onerror = () => { db.close(); reject(tx.error) }
    tx.onabort = () => { db.close(); reject(tx.error) }
  })
}

export function draftId (userId, interviewId) {
  return `u${userId}:i${interviewId}`
}

export const getDraft = (id) => run('readonly', (store) => store.get(id))
export const putDraft = (record) => run('readwrite', (store) => store.put(record))
export const deleteDraft = (id) => run('readwrite', (store) => store.delete(id))
export const listDrafts = () => run('readonly', (store) => store.getAll())

function withTimeout (promise, ms) {
  return Promise.race([promise, new Promise((resolve) => setTimeout(resolve, ms))])
}

// Drafts left by anyone but this user: sealed under that person's key, so unreadable here;
// removed once someone else has signed in on this tablet (decision 0049).
export async function deleteDraftsNotOf (userId) {
  if (!window.indexedDB) return
  const prefix = `u${userId}:`
  const drafts = await listDrafts().catch(() => [])
  for (const draft of drafts) {
    if (!String(draft.id).startsWith(prefix)) await deleteDraft(draft.id).catch(() => {})
  }
}

// Signing out: remove every draft and everything else the site keeps in the browser. The server
// also sends Clear-Site-Data on sign-out; this is the part that does not depend on the browser
// honouring it. The sign-in page calls it with `keepDrafts`: a session that simply ended (the
// idle sign-out, perhaps while the tablet was offline) must not lose the interviewer's answers,
// which are sealed under a key only that same person can get back by signing in again.
// Never blocks sign-out for more than two seconds.
export function clearLocalData ({ keepDrafts = false } = {}) {
  const steps = []
  try { localStorage.clear() } catch (e) {}
  try { sessionStorage.clear() } catch (e) {}
  if (window.indexedDB && !keepDrafts) {
    steps.push(new Promise((resolve) => {
      const request = indexedDB.deleteDatabase(DB_NAME)
      request.onsuccess = request.onerror = request.onblocked = () => resolve()
    }))
  }
  if (window.caches) {
    steps.push(caches.keys().then((keys) => Promise.all(keys.map((k) => caches.delete(k)))).catch(() => {}))
  }
  return withTimeout(Promise.all(steps), 2000)
}
