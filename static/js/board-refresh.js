// The board refreshes its rows in place (issue 13 item 4): every 30 seconds it fetches the
// board (?refresh=auto: not activity, so a board on a wall still times out) and swaps the live
// part, keeping the scroll position and the focused link, with a pause button and a polite
// announcement when the counts change. Without JavaScript the <noscript> meta refresh stays.

const live = document.querySelector('[data-board-live]')
const pause = document.querySelector('[data-board-pause]')
const announce = document.querySelector('[data-board-announce]')
const updated = document.querySelector('[data-board-updated]')

function summary (root) {
  const rows = root.querySelectorAll('tr.app-board__row').length
  const overdue = root.querySelectorAll('tr.app-board__row--red').length
  return { rows, overdue, text: `${rows} open episode${rows === 1 ? '' : 's'}, ${overdue} overdue` }
}

function focusKey (element) {
  if (!element || !live.contains(element)) return null
  return element.getAttribute('href') || element.id || null
}

async function refresh () {
  let response
  try {
    response = await fetch(live.dataset.refreshUrl, { credentials: 'same-origin', cache: 'no-store', redirect: 'manual' })
  } catch (error) { return }
  if (response.type === 'opaqueredirect' || !response.ok) return
  const doc = new DOMParser().parseFromString(await response.text(), 'text/html')
  const fresh = doc.querySelector('[data-board-live]')
  if (!fresh) return
  const before = summary(live)
  const key = focusKey(document.activeElement)
  const x = window.scrollX
  const y = window.scrollY
  live.replaceChildren(...Array.from(fresh.childNodes).map((n) => document.importNode(n, true)))
  const freshUpdated = doc.querySelector('[data-board-updated]')
  if (freshUpdated && updated) updated.textContent = freshUpdated.textContent
  if (key) {
    const target = Array.from(live.querySelectorAll('a, button, [id]'))
      .find((el) => el.getAttribute('href') === key || el.id === key)
    if (target) target.focus({ preventScroll: true })
  }
  window.scrollTo(x, y)
  const after = summary(live)
  if (after.text !== before.text) announce.textContent = `Board updated: ${after.text}.`
  document.body.dataset.boardRefreshed = String(Number(document.body.dataset.boardRefreshed || 0) + 1)
}

if (live) {
  const seconds = Number(live.dataset.refreshSeconds) || 30
  let timer = setInterval(refresh, seconds * 1000)
  pause.hidden = false
  pause.addEventListener('click', () => {
    if (timer) {
      clearInterval(timer)
      timer = null
      pause.textContent = 'Resume updates'
      announce.textContent = 'Updates paused.'
    } else {
      timer = setInterval(refresh, seconds * 1000)
      pause.textContent = 'Pause updates'
      announce.textContent = 'Updates resumed.'
      refresh()
    }
  })
  // For tests and for anyone who wants it now.
  document.addEventListener('board:refresh', refresh)
}
