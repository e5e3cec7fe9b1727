// The offline copy of the interview form: what the service worker shows for
// /interviews/<id>/record/ when the page cannot load (no network), even if the session has
// ended meanwhile (the 30-minute idle sign-out while the tablet was offline). It holds no
// child's details of its own: the answers come from this interview's draft on the tablet,
// decrypted with the working copy of the user's data key (draft-crypto.js), and every change is
// sealed again under it. When the connection returns the real page is loaded: it (after a new
// sign-in if the session ended) unlocks the draft with the key the server releases, restores
// and sends it. Nothing is sent from here.
import { workingKeys, seal, unseal } from './draft-crypto.js'
import { draftId, getDraft, listDrafts, putDraft } from './drafts-store.js'
import { fieldPairs, restore, time } from './record-fields.js'

const form = document.querySelector('[data-offline-shell]')
const SAVE_DELAY_MS = 600
const statusBox = document.getElementById('draft-status')
const statusTag = document.getElementById('draft-status-tag')
const statusText = document.getElementById('draft-status-text')
const heading = document.getElementById('offline-heading')
const match = window.location.pathname.match(/^\/interviews\/(\d+)\/record\/$/)
const interviewId = match ? Number(match[1]) : null

let key = null
let id = null
let draft = null // { pairs, base, version } as last sealed
let timer = null
let saving = Promise.resolve()

function show (state, label, text) {
  statusBox.dataset.state = state
  statusTag.textContent = label
  statusText.textContent = text
}

function closeForm (text) {
  form.hidden = true
  show('locked', 'Offline', text)
}

async function save () {
  clearTimeout(timer)
  timer = null
  const payload = { ...draft, pairs: fieldPairs(form) }
  const savedAt = Date.now()
  const sealed = await seal(key, id, payload)
  await putDraft({ id, interview: interviewId, savedAt, ...sealed })
  draft = payload
  statusBox.dataset.onTablet = String(savedAt)
  if (!timer) delete statusBox.dataset.pending
  show('offline', 'Offline', `You are offline. Your answers are saved on this tablet, encrypted (${time(savedAt)}). They are sent when the connection returns (you may be asked to sign in again).`)
}

function onEdit () {
  clearTimeout(timer)
  statusBox.dataset.pending = 'true'
  timer = setTimeout(() => { saving = save() }, SAVE_DELAY_MS)
}

let leaving = false
async function backOnline () {
  if (leaving) return
  leaving = true
  if (timer) saving = save()
  await saving.catch(() => {})
  window.location.reload()
}

async function start () {
  if (interviewId === null) {
    closeForm('This is the tablet\'s offline copy of the interview form. Open an interview from your list while connected.')
    return
  }
  heading.textContent = `Interview I-${interviewId} (offline)`
  for (const candidate of await workingKeys()) {
    const candidateId = draftId(candidate.user, interviewId)
    const record = await getDraft(candidateId).catch(() => null)
    if (!record) continue
    try {
      draft = await unseal(candidate.key, candidateId, record)
    } catch (error) {
      continue
    }
    key = candidate.key
    id = candidateId
    restore(form, draft.pairs)
    form.addEventListener('input', onEdit)
    form.addEventListener('change', onEdit)
    form.addEventListener('submit', (event) => {
      event.preventDefault()
      show('offline', 'Offline', 'You are offline: your answers are saved on this tablet, encrypted. Send or complete the interview when the connection returns.')
    })
    form.hidden = false
    show('offline', 'Offline', `You are offline. Your draft of I-${interviewId} (saved ${time(record.savedAt)}) is back in the form, and what you write is saved on this tablet, encrypted. It is sent when the connection returns.`)
    return
  }
  const drafts = await listDrafts().catch(() => [])
  if (drafts.some((d) => d.interview === interviewId)) {
    closeForm(`Your draft of interview I-${interviewId} is saved on this tablet, encrypted. It is locked until the connection returns and you sign in again.`)
  } else {
    closeForm(`Interview I-${interviewId} cannot be shown without a connection: it was not open on this tablet when the connection went.`)
  }
}

if (form && window.crypto && crypto.subtle && window.indexedDB) {
  start().finally(() => { document.body.dataset.offlineCopyReady = 'true' })
}
if (interviewId !== null) {
  window.addEventListener('online', backOnline)
  // Some tablets do not fire "online": check now and then whether the server answers.
  setInterval(() => {
    if (navigator.onLine === false) return
    fetch('/healthz', { cache: 'no-store' }).then((r) => { if (r.ok) backOnline() }).catch(() => {})
  }, 5000)
}
