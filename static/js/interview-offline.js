// The page the service worker shows when an interview page cannot load offline. It holds no
// child's details: it says whether a draft of this interview is on the tablet (encrypted: it
// cannot be read until the connection, and with it the signed-in session's key, is back), and
// reloads the real page as soon as the network returns, which unlocks the draft and sends it.
import { listDrafts } from './drafts-store.js'

const text = document.getElementById('offline-status-text')
const match = window.location.pathname.match(/^\/interviews\/(\d+)\//)

async function describe () {
  if (!match || !window.indexedDB) return
  const interview = Number(match[1])
  const drafts = await listDrafts().catch(() => [])
  const draft = drafts.find((d) => d.interview === interview)
  if (draft) {
    const saved = new Date(draft.savedAt).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' })
    text.textContent = `Your draft of interview I-${interview} is saved on this tablet, encrypted (last saved ${saved}). It is locked until the connection returns; then it is sent.`
    document.body.dataset.draftWaiting = 'true'
  } else {
    text.textContent = `Interview I-${interview} cannot be shown without a connection, and no draft of it is saved on this tablet.`
  }
}

function backOnline () {
  window.location.reload()
}

describe()
window.addEventListener('online', backOnline)
// Some tablets do not fire "online": check now and then whether the server answers.
setInterval(() => {
  fetch('/healthz', { cache: 'no-store' }).then((r) => { if (r.ok) backOnline() }).catch(() => {})
}, 5000)
document.getElementById('offline-retry').addEventListener('click', (event) => {
  event.preventDefault()
  backOnline()
})
