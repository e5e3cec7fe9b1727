// The idle sign-out, announced before it happens (WCAG 2.2.1 Timing adjustable). The page asks
// the server how long its session has left (a passive request: asking is not activity, so a
// board left on a wall still times out) and, shortly before the end, opens a dialog with
// "Stay signed in". Another tab's activity counts: the server's answer, not this page's clock,
// decides. When the time is up the dialog says so; a form sent afterwards is kept on the server
// and offered back after signing in again (missing/accounts/session_timeout.py).

const root = document.body
const dialog = document.getElementById('session-timeout')

function start () {
  const warnBefore = Number(root.dataset.idleWarning)
  const statusUrl = root.dataset.sessionStatusUrl
  const keepAliveUrl = root.dataset.keepAliveUrl
  const text = document.getElementById('session-timeout-text')
  const title = document.getElementById('session-timeout-title')
  const stay = dialog.querySelector('[data-timeout-stay]')
  const leave = dialog.querySelector('[data-timeout-leave]')
  const signIn = dialog.querySelector('[data-timeout-sign-in]')
  const back = dialog.querySelector('[data-timeout-close]')
  let timer = null
  let ticker = null
  let endsAt = 0
  let returnFocus = null

  function minutesAndSeconds (seconds) {
    const m = Math.floor(seconds / 60)
    const s = seconds % 60
    const parts = []
    if (m) parts.push(`${m} minute${m === 1 ? '' : 's'}`)
    if (s || !m) parts.push(`${s} second${s === 1 ? '' : 's'}`)
    return parts.join(' ')
  }

  function schedule (remaining) {
    clearTimeout(timer)
    const wait = Math.max(1, remaining - warnBefore) * 1000
    timer = setTimeout(check, wait)
  }

  async function remainingOnServer () {
    const response = await fetch(`${statusUrl}?refresh=auto`, {
      credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' }
    })
    return (await response.json()).remaining
  }

  async function check () {
    let remaining
    try { remaining = await remainingOnServer() } catch (error) { schedule(warnBefore + 30); return }
    if (remaining > warnBefore + 2) { schedule(remaining); return }
    if (remaining <= 0) { ended(); return }
    warn(remaining)
  }

  function open () {
    if (!dialog.open) {
      returnFocus = document.activeElement
      dialog.showModal()
    }
  }

  function warn (remaining) {
    endsAt = Date.now() + remaining * 1000
    title.textContent = 'You will be signed out soon'
    stay.hidden = false
    leave.hidden = false
    signIn.hidden = true
    back.hidden = true
    text.textContent = `You will be signed out in ${minutesAndSeconds(remaining)} because nothing has been sent for a while. Anything not yet saved would be kept for you to send after signing in again.`
    root.dataset.timeoutWarning = 'open'
    open()
    stay.focus()
    clearInterval(ticker)
    // The visible countdown; screen readers hear the dialog once, not every second.
    ticker = setInterval(async () => {
      const left = Math.round((endsAt - Date.now()) / 1000)
      if (left > 0) {
        document.getElementById('session-timeout-countdown').textContent = `Time left: ${minutesAndSeconds(left)}`
        return
      }
      clearInterval(ticker)
      let after = 0
      try { after = await remainingOnServer() } catch (error) {}
      if (after > 0) { close(); schedule(after) } else { ended() }
    }, 1000)
  }

  function ended () {
    clearInterval(ticker)
    title.textContent = 'You have been signed out'
    text.textContent = 'You were signed out because nothing was sent for a while. What you typed on this page is still here: if you send it now, it is kept and you can send it after signing in again.'
    document.getElementById('session-timeout-countdown').textContent = ''
    stay.hidden = true
    leave.hidden = true
    signIn.hidden = false
    back.hidden = false
    root.dataset.timeoutWarning = 'ended'
    open()
    back.focus()
  }

  function close () {
    clearInterval(ticker)
    if (dialog.open) dialog.close()
    delete root.dataset.timeoutWarning
    if (returnFocus && returnFocus.focus) returnFocus.focus()
  }

  stay.addEventListener('click', async () => {
    const csrf = document.querySelector('input[name="csrfmiddlewaretoken"]')
    let response
    try {
      response = await fetch(keepAliveUrl, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'X-CSRFToken': csrf ? csrf.value : '', Accept: 'application/json' }
      })
    } catch (error) {
      text.textContent = 'Could not reach the server to keep you signed in. Check the connection and try again.'
      return
    }
    if (!response.ok) { ended(); return }
    const { remaining } = await response.json()
    root.dataset.timeoutKept = String(Number(root.dataset.timeoutKept || 0) + 1)
    close()
    schedule(remaining)
  })
  back.addEventListener('click', () => { if (dialog.open) dialog.close(); if (returnFocus && returnFocus.focus) returnFocus.focus() })
  leave.addEventListener('click', () => {
    const signOut = document.querySelector('.app-account__signout')
    if (signOut) signOut.requestSubmit()
  })
  // Escape closes a native dialog: treat it as "stay signed in" only if the person says so.
  dialog.addEventListener('cancel', (event) => event.preventDefault())

  schedule(Number(root.dataset.idleSeconds))
}

if (dialog && typeof dialog.showModal === 'function' && root.dataset.sessionStatusUrl) start()
