// Signing out removes whatever this browser keeps for the site (offline interview drafts),
// before the sign-out is sent. The sign-in page removes the rest but keeps the drafts: a session
// that ended on its own (the idle sign-out while the tablet was offline) must not cost the
// interviewer their answers, and they are sealed under a key only the same person gets back by
// signing in again. Once someone is signed in, drafts left by anyone else are removed (they
// could never be read here). A module of its own, so that it works even where GOV.UK
// Frontend's script is not built.
import { clearLocalData, deleteDraftsNotOf } from './drafts-store.js'

const signOut = document.querySelector('.app-account__signout')
if (signOut) {
  signOut.addEventListener('submit', (event) => {
    if (signOut.dataset.cleared) return
    event.preventDefault()
    clearLocalData().finally(() => {
      signOut.dataset.cleared = 'true'
      signOut.submit()
    })
  })
}
if (document.querySelector('[data-clear-local-data]')) {
  clearLocalData({ keepDrafts: true }).then(() => document.body.setAttribute('data-local-data-cleared', 'true'))
}
const signedIn = document.body.dataset.user
if (signedIn) {
  deleteDraftsNotOf(signedIn).then(() => document.body.setAttribute('data-other-drafts-cleared', 'true'))
}
