// An irreversible confirmation ("Confirm and complete") pressed with no network: the browser
// would show its own error page and the person would not know what happened. Instead the form
// waits for the connection, says so, and is sent when the connection returns. The answers are
// already on the server (the record page saved them before this page), so nothing is lost by
// waiting; the version in the form still refuses (409) anything changed meanwhile.

for (const form of document.querySelectorAll('form[data-needs-connection]')) {
  const status = form.querySelector('[role=status]')
  let waiting = false

  form.addEventListener('submit', (event) => {
    if (navigator.onLine) return
    event.preventDefault()
    if (waiting) return
    waiting = true
    form.dataset.waiting = 'true'
    status.textContent = 'You are offline. Your answers are saved on the server. The interview will be completed when the connection returns: keep this page open.'
    window.addEventListener('online', () => {
      status.textContent = 'The connection is back. Completing the interview…'
      delete form.dataset.waiting
      // Online now: the submit handler lets it through.
      form.requestSubmit()
    }, { once: true })
  })
}
