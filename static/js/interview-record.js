// The interview form on a tablet: saves as you type, keeps a draft on the tablet while the
// network is away, and sends it when it is back, saying at every moment what is saved where.
//
// The draft on the tablet is encrypted with AES-GCM under this user's data key, which is kept
// wrapped under a key the server hands out only to this user's signed-in session (GET
// data-key-url; see draft-crypto.js). After a reload with no network the service worker shows
// the offline copy of this form (interview-record-offline.js), which goes on with the working
// copy of the data key; the sign-in page removes that copy, so after a session has ended only
// the same person, signed in again, can read the draft. Signing out deletes the drafts.
//
// Two edits never silently overwrite each other: each save says which version it started from
// and what the answers were then (`base`), and the server merges field by field or refuses
// (409) with the differences, which are shown here to choose from.
//
// Without JavaScript the form still works: "Save" and "Complete" post it as an ordinary form.

import { dataKeyFor, importWrappingKey, seal as sealWith, unseal as unsealWith } from './draft-crypto.js'
import { deleteDraft, draftId, getDraft, putDraft } from './drafts-store.js'
import { fieldPairs as pairsOf, restore as restoreInto, same, time } from './record-fields.js'

const form = document.querySelector('[data-offline-form]')
const SAVE_DELAY_MS = 600
const RETRY_MS = 15000

const fieldPairs = () => pairsOf(form)
const restore = (pairs) => restoreInto(form, pairs)

// --- the indicator: what is saved where --------------------------------------------------

const statusBox = document.getElementById('draft-status')
const statusTag = document.getElementById('draft-status-tag')
const statusText = document.getElementById('draft-status-text')
const signInLink = document.getElementById('draft-sign-in')
const TAGS = {
  server: ['Saved', 'govuk-tag--green'],
  local: ['On this tablet', 'govuk-tag--yellow'],
  sending: ['Sending', 'govuk-tag--blue'],
  offline: ['Offline', 'govuk-tag--yellow'],
  locked: ['Draft locked', 'govuk-tag--yellow'],
  conflict: ['Not saved', 'govuk-tag--red'],
  error: ['Not sent', 'govuk-tag--red'],
  signedout: ['Signed out', 'govuk-tag--red'],
  checking: ['Checking', 'govuk-tag--grey']
}

function show (state, text) {
  const [label, css] = TAGS[state]
  statusBox.hidden = false
  statusBox.dataset.state = state
  statusTag.className = `govuk-tag app-draft-status__tag ${css}`
  statusTag.textContent = label
  statusText.textContent = text
  signInLink.hidden = state !== 'signedout'
}

// --- encryption ------------------------------------------------------------------------------

let key = null
let keyLost = false

async function fetchKey () {
  const response = await fetch(form.dataset.keyUrl, {
    credentials: 'same-origin',
    cache: 'no-store',
    headers: { Accept: 'application/json' },
    redirect: 'error'
  })
  if (!response.ok) throw new Error(`key ${response.status}`)
  const body = await response.json()
  // The key belongs to whoever is signed in: never use another person's on this form.
  if (String(body.user) !== String(form.dataset.user)) throw new Error('another user')
  const wrapping = await importWrappingKey(body.key)
  const made = await dataKeyFor(form.dataset.user, wrapping)
  keyLost = made.lost
  return made.key
}

const seal = (id, payload) => sealWith(key, id, payload)
const unseal = (id, record) => unsealWith(key, id, record)

// --- the edit ------------------------------------------------------------------------------

const interviewId = Number(form.dataset.interview)
const id = draftId(form.dataset.user, interviewId)
const versionInput = form.querySelector('input[name="version"]')
const csrf = form.querySelector('input[name="csrfmiddlewaretoken"]').value

let version = Number(versionInput.value)
// The answers as the server last had them, when this edit started (null: not known, e.g. the
// page shows answers a refused post sent back).
let base = form.dataset.unsaved === 'true' ? null : fieldPairs()
let edits = 0 // bumped on every change, so a save knows whether more came in meanwhile
let dirty = false
let locked = false // a draft on the tablet we have no key for yet
let syncing = null
let conflict = null
let timer = null
let signedOut = false // the session ended (idle sign-out): keep saving here, send after sign-in

const SIGNED_OUT = 'Your session has ended. Your answers are saved on this tablet, encrypted, and nothing is lost: sign in again to send them.'

async function saveLocal () {
  if (!key) {
    show('error', 'Not saved on this tablet: it could not get its key from the server. Keep this page open until the connection returns.')
    return
  }
  const savedAt = Date.now()
  const sealed = await seal(id, { pairs: fieldPairs(), base, version })
  await putDraft({ id, interview: interviewId, savedAt, ...sealed })
  statusBox.dataset.onTablet = String(savedAt)
  if (!timer) delete statusBox.dataset.pending
  if (signedOut) {
    show('signedout', SIGNED_OUT)
  } else if (!navigator.onLine) {
    show('offline', `You are offline. Your answers are saved on this tablet, encrypted (${time(savedAt)}), and will be sent when the connection returns.`)
  } else {
    show('local', `Saved on this tablet, encrypted, at ${time(savedAt)}. Not yet sent to the server.`)
  }
}

function schedule () {
  clearTimeout(timer)
  // An edit not yet on the tablet (tests wait for this to go before reloading).
  statusBox.dataset.pending = 'true'
  timer = setTimeout(async () => {
    timer = null
    await saveLocal()
    sync()
  }, SAVE_DELAY_MS)
}

function onEdit () {
  edits += 1
  dirty = true
  if (conflict) return // wait for the person to choose, keep saving on the tablet
  schedule()
}

function sync (options = {}) {
  if (!syncing) syncing = send(options).finally(() => { syncing = null })
  return syncing
}

async function send ({ overwrite = false } = {}) {
  if (!dirty || locked) return 'idle'
  if (conflict && !overwrite) return 'conflict'
  if (signedOut) {
    show('signedout', SIGNED_OUT)
    return 'signedout'
  }
  if (!navigator.onLine) {
    show('offline', 'You are offline. Your answers are saved on this tablet, encrypted, and will be sent when the connection returns.')
    return 'offline'
  }
  const started = edits
  const pairs = fieldPairs()
  const body = new URLSearchParams(pairs)
  body.set('version', String(version))
  if (base) body.set('base', JSON.stringify(base))
  if (overwrite) body.set('overwrite', 'true')
  show('sending', 'Saved on this tablet. Sending to the server…')
  let response
  try {
    response = await fetch(form.dataset.autosaveUrl, {
      method: 'POST',
      body,
      credentials: 'same-origin',
      headers: { 'X-CSRFToken': csrf, Accept: 'application/json' },
      // A redirect means the sign-in page: the session ended. Seen as such, not as a network
      // failure, so the person is told to sign in rather than to wait for the connection.
      redirect: 'manual'
    })
  } catch (error) {
    show('offline', 'The connection dropped. Your answers are saved on this tablet, encrypted, and will be sent when it returns.')
    return 'offline'
  }
  if (response.type === 'opaqueredirect' || response.status === 401 || response.status === 403) {
    signedOut = true
    show('signedout', SIGNED_OUT)
    return 'signedout'
  }
  let answer = {}
  try { answer = await response.json() } catch (error) {}
  if (response.ok) {
    version = answer.version
    versionInput.value = String(version)
    conflict = null
    document.getElementById('draft-conflict').hidden = true
    if (edits === started) {
      if (answer.pairs && (answer.merged || overwrite)) restore(answer.pairs)
      base = answer.pairs || pairs
      dirty = false
      await deleteDraft(id)
      delete statusBox.dataset.onTablet
      show('server', `Everything is saved on the server (${time(answer.saved_at)}).`)
    } else {
      base = pairs
      await saveLocal()
      schedule()
    }
    return 'saved'
  }
  if (response.status === 409 && answer.differences) {
    showConflict(answer)
    return 'conflict'
  }
  if (response.status === 409) {
    show('error', `${answer.detail || 'This interview can no longer be changed.'} Your answers are still on this tablet.`)
    return 'refused'
  }
  if (response.status === 400 && answer.errors) {
    const messages = Object.values(answer.errors).flat().join(' ')
    show('error', `Not sent: ${messages} Your answers are saved on this tablet.`)
    return 'invalid'
  }
  show('error', 'Not sent: your session may have ended. Your answers are on this tablet until you sign out; sign in again in another tab to send them.')
  return 'refused'
}

function showConflict (answer) {
  conflict = answer
  const rows = document.getElementById('draft-conflict-rows')
  rows.replaceChildren()
  for (const difference of answer.differences) {
    const tr = document.createElement('tr')
    tr.className = 'govuk-table__row'
    const th = document.createElement('th')
    th.scope = 'row'
    th.className = 'govuk-table__header'
    th.textContent = difference.label
    tr.append(th)
    for (const value of [difference.yours, difference.theirs]) {
      const td = document.createElement('td')
      td.className = 'govuk-table__cell'
      td.textContent = value
      tr.append(td)
    }
    rows.append(tr)
  }
  const banner = document.getElementById('draft-conflict')
  banner.hidden = false
  banner.focus()
  show('conflict', 'Not saved: someone else changed the same answers. Choose which to keep. Yours are kept on this tablet meanwhile.')
}

document.getElementById('draft-keep-mine').addEventListener('click', () => {
  if (!conflict) return
  sync({ overwrite: true })
})

document.getElementById('draft-take-theirs').addEventListener('click', async () => {
  await deleteDraft(id)
  dirty = false
  window.location.reload()
})

// --- start -----------------------------------------------------------------------------------

async function unlock () {
  try {
    key = await fetchKey()
  } catch (error) {
    return false
  }
  const record = await getDraft(id)
  locked = false
  if (keyLost) {
    show('error', 'A draft from an earlier sign-in could not be unlocked (the account\'s sign-in was reset) and has been removed.')
  }
  if (!record) return true
  let draft
  try {
    draft = await unseal(id, record)
  } catch (error) {
    // Sealed under another session's key (signed out since, or the session ended): unreadable.
    await deleteDraft(id)
    show('error', 'A draft from an earlier sign-in could not be unlocked and has been removed.')
    return true
  }
  if (same(draft.pairs, fieldPairs()) && draft.version === version) {
    await deleteDraft(id)
    return true
  }
  restore(draft.pairs)
  base = draft.base
  version = draft.version
  dirty = true
  show('local', `Your draft from this tablet (saved ${time(record.savedAt)}) is back in the form. Sending it…`)
  await sync()
  return true
}

async function start () {
  show('checking', 'Checking for a draft saved on this tablet…')
  form.addEventListener('input', onEdit)
  form.addEventListener('change', onEdit)
  form.addEventListener('submit', async (event) => {
    if (form.dataset.submitting) return
    event.preventDefault()
    const submitter = event.submitter
    if (signedOut) {
      show('signedout', SIGNED_OUT)
      signInLink.focus()
      return
    }
    if (!navigator.onLine) {
      show('offline', 'You are offline: your answers are saved on this tablet, encrypted. Send or complete the interview when the connection returns.')
      return
    }
    clearTimeout(timer)
    timer = null
    if (dirty) {
      await saveLocal()
      const result = await sync()
      if (result === 'conflict' || result === 'offline') return
      if (result === 'signedout') { signInLink.focus(); return }
    }
    form.dataset.submitting = 'true'
    // Not from inside this submit event: a form ignores requestSubmit while firing one.
    setTimeout(() => form.requestSubmit(submitter), 0)
  })
  window.addEventListener('online', async () => {
    if (!key || locked) await unlock()
    if (!dirty && !locked && statusBox.dataset.onTablet) {
      // Only the copy kept for going offline, nothing new in it: the server has it all.
      await deleteDraft(id).catch(() => {})
      delete statusBox.dataset.onTablet
      show('server', 'Everything is saved on the server.')
    }
    sync()
  })
  window.addEventListener('offline', async () => {
    // Keep the form as it stands on the tablet (encrypted), so that a reload with no network
    // still shows it, in the offline copy of the form, with every answer.
    if (key && !locked) {
      clearTimeout(timer)
      timer = null
      await saveLocal()
    }
    show('offline', 'You are offline. What you write is saved on this tablet, encrypted, and sent when the connection returns.')
  })
  setInterval(() => { if (dirty && navigator.onLine && !signedOut) sync() }, RETRY_MS)

  if (!(await unlock())) {
    const record = await getDraft(id).catch(() => null)
    if (record) {
      locked = true
      show('locked', 'A draft saved on this tablet is locked until the connection returns.')
    } else {
      show('error', 'Could not get this tablet\'s key from the server: answers will be saved on the server only.')
    }
  } else if (!dirty && statusBox.dataset.state === 'checking') {
    show('server', 'Everything is saved on the server.')
  }

  if ('serviceWorker' in navigator) {
    navigator.serviceWorker
      .register(form.dataset.swUrl, { scope: form.dataset.swScope })
      .then(() => navigator.serviceWorker.ready)
      .then(() => { form.dataset.offlineReady = 'true' })
      .catch(() => {})
  }
  form.dataset.draftsReady = 'true'
}

if (form && window.crypto && crypto.subtle && window.indexedDB) {
  start()
}
