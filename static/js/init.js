// Start GOV.UK Frontend's components (error summary focus, details, radios, header menu...).
// Loaded as a module from a static file, never inline, so a strict Content-Security-Policy can
// forbid inline script. A browser that runs a module script is one GOV.UK Frontend supports
// (its own test is `'noModule' in HTMLScriptElement.prototype`); older browsers skip this file
// and get the plain HTML, which works without JavaScript.
import { initAll } from '../govuk/govuk-frontend.min.js'

document.body.classList.add('js-enabled', 'govuk-frontend-supported')
initAll()
