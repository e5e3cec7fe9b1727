// Interview drafts kept on the tablet while it is offline: one IndexedDB database, nothing in
// localStorage. A draft is stored encrypted (see draft-crypto.js); only its ids and the time it
// was saved are in the clear, never anything about the child.
//
// Two stores:
// - `drafts`: { id: 'u<user>:i<interview>', interview, savedAt, iv, data } (AES-GCM);
// - `keys`: one record per user, { user, iv, wrapped, working }: the drafts' key, wrapped under
//   the key the server releases only to that user's fully signed-in session (`wrapped`), and,
//   until the sign-in page is next shown, a non-extractable working copy (`working`, a
//   CryptoKey: usable by this site's pages, never readable as bytes), so that the form still
//   works after a reload with no network (decision 0062).

const DB_NAME = 'rhi-drafts'
const DB_VERSION = 2
const DRAFTS = 'drafts'
const KEYS = 'keys'

function openDb () {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, DB_VERSION)
    request.onupgradeneeded = () => {
      const db = request.result
      if (!db.objectStoreNames.contains(DRAFTS)) db.createObjectStore(DRAFTS, { keyPath: 'id' })
      if (!db.objectStoreNames.contains(KEYS)) db.createObjectStore(KEYS, { keyPath: 'user' })
    }
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error)
  })
}

// Run one request in its own transaction and close the database afterwards, so that signing
// out can always delete it (an open connection would block the deletion).
async function run (storeName, mode, makeRequest) {
  const db = await openDb()
  return new Promise((resolve, reject) => {
    const tx = db.transaction(storeName, mode)
    const request = makeRequest(tx.objectStore(storeName))
    tx.oncomplete = () => { db.close(); resolve(request.result) }
    tx.onerror = () => { db.close(); reject(tx.error) }
    tx.onabort = () => { db.close(); reject(tx.error) }
  })
}

export function draftId (userId, interviewId) {
  return `u${userId}:i${interviewId}`
}

export const getDraft = (id) => run(DRAFTS, 'readonly', (store) => store.get(id))
export const putDraft = (record) => run(DRAFTS, 'readwrite', (store) => store.put(record))
export const deleteDraft = (id) => run(DRAFTS, 'readwrite', (store) => store.delete(id))
export const listDrafts = () => run(DRAFTS, 'readonly', (store) => store.getAll())

export const getKeyRecord = (user) => run(KEYS, 'readonly', (store) => store.get(String(user)))
export const putKeyRecord = (record) => run(KEYS, 'readwrite', (store) => store.put(record))
// Fails (ConstraintError) if the user already has one: two pages making a key at once keep one.
export const addKeyRecord = (record) => run(KEYS, 'readwrite', (store) => store.add(record))
export const deleteKeyRecord = (user) => run(KEYS, 'readwrite', (store) => store.delete(String(user)))
export const listKeyRecords = () => run(KEYS, 'readonly', (store) => store.getAll())

function withTimeout (promise, ms) {
  return Promise.race([promise, new Promise((resolve) => setTimeout(resolve, ms))])
}

// Every draft of one user (their key is gone: they can never be read again).
export async function deleteDraftsOf (userId) {
  const prefix = `u${userId}:`
  const drafts = await listDrafts().catch(() => [])
  for (const draft of drafts) {
    if (String(draft.id).startsWith(prefix)) await deleteDraft(draft.id).catch(() => {})
  }
}

// Drafts and keys left by anyone but this user: removed once someone else has signed in on this
// tablet (decisions 0049, 0062). Their drafts were sealed under their key, which this user's
// session can never get from the server.
export async function deleteDraftsNotOf (userId) {
  if (!window.indexedDB) return
  const prefix = `u${userId}:`
  const drafts = await listDrafts().catch(() => [])
  for (const draft of drafts) {
    if (!String(draft.id).startsWith(prefix)) await deleteDraft(draft.id).catch(() => {})
  }
  const keys = await listKeyRecords().catch(() => [])
  for (const record of keys) {
    if (String(record.user) !== String(userId)) await deleteKeyRecord(record.user).catch(() => {})
  }
}

// The sign-in page: the drafts stay, but the working copies of their keys go. From here on a
// draft is readable only after its owner has signed in again (both factors) and the server has
// released the key that unwraps theirs.
async function forgetWorkingKeys () {
  const keys = await listKeyRecords().catch(() => [])
  for (const record of keys) {
    if (record.working) {
      const { working, ...wrappedOnly } = record
      await putKeyRecord(wrappedOnly).catch(() => {})
    }
  }
}

// Signing out: remove every draft, every key and everything else the site keeps in the browser.
// The server also sends Clear-Site-Data on sign-out; this is the part that does not depend on
// the browser honouring it. The sign-in page calls it with `keepDrafts`: a session that simply
// ended (the idle sign-out, perhaps while the tablet was offline) must not lose the
// interviewer's answers, which stay sealed under a key only that same person can unwrap again
// by signing in again. Never blocks sign-out for more than two seconds.
export function clearLocalData ({ keepDrafts = false } = {}) {
  const steps = []
  try { localStorage.clear() } catch (e) {}
  try { sessionStorage.clear() } catch (e) {}
  if (window.indexedDB && keepDrafts) {
    steps.push(forgetWorkingKeys().catch(() => {}))
  } else if (window.indexedDB) {
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
