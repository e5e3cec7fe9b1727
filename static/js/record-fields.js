// The interview form's answers as (name, value) pairs, and back: shared by the record page
// (interview-record.js) and its offline copy (interview-record-offline.js).

export const SKIP = new Set(['csrfmiddlewaretoken', 'version', 'action'])

export function fieldPairs (form) {
  const pairs = []
  for (const [name, value] of new FormData(form)) {
    if (!SKIP.has(name)) pairs.push([name, String(value)])
  }
  return pairs
}

export function same (a, b) {
  return JSON.stringify(a) === JSON.stringify(b)
}

// Put the answers back in the form. An answer with no field here (a factor no longer in use,
// which the offline copy of the form does not list) is kept in a hidden field, so that sending
// the form never drops it.
export function restore (form, pairs) {
  for (const kept of form.querySelectorAll('input[data-kept-answer]')) kept.remove()
  const values = new Map()
  for (const [name, value] of pairs) {
    if (!values.has(name)) values.set(name, [])
    values.get(name).push(value)
  }
  const placed = new Set()
  for (const element of form.elements) {
    if (!element.name || SKIP.has(element.name)) continue
    const given = values.get(element.name) || []
    if (element.type === 'checkbox' || element.type === 'radio') {
      element.checked = given.includes(element.value)
      if (element.checked) placed.add(`${element.name}\u0000${element.value}`)
    } else if (element.tagName !== 'BUTTON') {
      element.value = given[0] || ''
      placed.add(`${element.name}\u0000${given[0] || ''}`)
    }
  }
  for (const [name, value] of pairs) {
    if (placed.has(`${name}\u0000${value}`)) continue
    const input = document.createElement('input')
    input.type = 'hidden'
    input.name = name
    input.value = value
    input.dataset.keptAnswer = 'true'
    form.append(input)
  }
  syncReveals(form)
}

// GOV.UK Frontend reveals a factor's note when its box is ticked by a click; keep that true
// when boxes are ticked by restoring a draft.
export function syncReveals (form) {
  for (const box of form.querySelectorAll('.govuk-checkboxes__input')) {
    const id = box.getAttribute('aria-controls') || box.dataset.ariaControls
    const target = id && document.getElementById(id)
    if (!target) continue
    target.classList.toggle('govuk-checkboxes__conditional--hidden', !box.checked)
    if (box.hasAttribute('aria-controls')) box.setAttribute('aria-expanded', String(box.checked))
  }
}

export function time (when) {
  return new Date(when).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' })
}
