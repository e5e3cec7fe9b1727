// The tablet drafts' encryption (decisions 0021, 0049, 0062).
//
// A draft is sealed with AES-GCM (256-bit key, a random 96-bit IV per save, the draft's id as
// additional data) under the tablet's *data key*: made here, at random, once per user. The data
// key is kept in IndexedDB only in two forms:
// - wrapped (AES-GCM) under the *wrapping key* the server derives per user and releases only
//   to that user's fully signed-in session (GET /interviews/draft-key/, second factor
//   included); the wrapping key itself is never stored on the tablet;
// - a working copy: a non-extractable CryptoKey (no script can read its bytes), so that the
//   form keeps working after a reload with no network. The sign-in page deletes it; signing
//   out deletes everything; another user's sign-in deletes both forms and the drafts.
import {
  addKeyRecord, deleteDraftsOf, deleteKeyRecord, getKeyRecord, listKeyRecords, putKeyRecord
} from './drafts-store.js'

const encoder = new TextEncoder()
const AES = { name: 'AES-GCM' }

function wrapParams (user, iv) {
  return { name: 'AES-GCM', iv, additionalData: encoder.encode(`rhi-draft-key:u${user}`) }
}

export async function seal (key, id, payload) {
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const data = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: encoder.encode(id) },
    key,
    encoder.encode(JSON.stringify(payload))
  )
  return { iv, data }
}

export async function unseal (key, id, record) {
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: record.iv, additionalData: encoder.encode(id) },
    key,
    record.data
  )
  return JSON.parse(new TextDecoder().decode(plain))
}

// The server's answer ({ key: base64 }) as a key that can only wrap and unwrap.
export function importWrappingKey (base64) {
  const raw = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))
  return crypto.subtle.importKey('raw', raw, AES, false, ['wrapKey', 'unwrapKey'])
}

function unwrap (user, record, wrappingKey) {
  return crypto.subtle.unwrapKey(
    'raw', record.wrapped, wrappingKey, wrapParams(user, record.iv), AES, false, ['encrypt', 'decrypt']
  )
}

// This user's data key, unwrapped with the key the server just released (so the server still
// vouches for it), or a new one. `lost` says an old one could not be unwrapped (the second
// factor was reset, or the server's secret rotated): its drafts were unreadable and are gone.
export async function dataKeyFor (user, wrappingKey, { retry = true } = {}) {
  const record = await getKeyRecord(user)
  let lost = false
  if (record) {
    try {
      const working = await unwrap(user, record, wrappingKey)
      await putKeyRecord({ ...record, working })
      return { key: working, lost }
    } catch (error) {
      lost = true
      await deleteDraftsOf(user)
      await deleteKeyRecord(user)
    }
  }
  // Extractable only for the moment it takes to wrap it; the copy kept is not.
  const fresh = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt'])
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const wrapped = await crypto.subtle.wrapKey('raw', fresh, wrappingKey, wrapParams(user, iv))
  const made = { user: String(user), iv, wrapped, madeAt: Date.now() }
  const working = await unwrap(user, made, wrappingKey)
  try {
    await addKeyRecord({ ...made, working })
  } catch (error) {
    // Another page of this tablet made one meanwhile: use that one.
    if (retry) return dataKeyFor(user, wrappingKey, { retry: false })
    throw error
  }
  return { key: working, lost }
}

// Offline, after a reload: the working copies still held (at most one user's, normally).
export async function workingKeys () {
  const records = await listKeyRecords().catch(() => [])
  return records.filter((r) => r.working).map((r) => ({ user: r.user, key: r.working }))
}

// Is there a draft key kept for this user at all (wrapped)?
export async function hasKeyRecord (user) {
  return Boolean(await getKeyRecord(user).catch(() => null))
}
