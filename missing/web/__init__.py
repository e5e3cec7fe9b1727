"""The web pages: views, forms, URLs, middleware, context processors, pagination,
`/healthz`, the CSV writer and the public plumbing other apps share (`shared`:
`role_required`, `get_or_404`, the API's `error_responses`)."""
