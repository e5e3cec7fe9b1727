// Signing out removes whatever this browser keeps for the site (offline interview drafts),
// before the sign-out is sent; the sign-in page does the same for a session that simply ended
// (a draft's key went with that session, so nothing left could be read anyway). A module of its
// own, so that it works even where GOV.UK Frontend's script is not built.
import { clearLocalData } from './drafts-store.js'

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
  clearLocalData().then(() => document.body.setAttribute('data-local-data-cleared', 'true'))
}
