from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import Resolver404, get_resolver, resolve


class NoStoreMiddleware:
    """Pages and API answers can show a child: never let a browser or proxy keep them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/static/"):
            response["Cache-Control"] = "no-store"
        return response


class NotFoundPageMiddleware:
    """The local demo runs with DEBUG on (its relaxed second factor requires it), and with DEBUG
    on Django answers a 404 with its technical page, which lists every URL pattern. This gives
    the demo the real site's answer instead: the handler404 page (GOV.UK "Page not found", or
    the API's JSON), for an address no pattern matches and for a view that raises Http404.
    Listed in config.settings.local only, near the end so the request is already signed in."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            resolve(request.path_info, getattr(request, "urlconf", None))
        except Resolver404 as exception:
            return self._not_found(request, exception)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, Http404):
            return None
        return self._not_found(request, exception)

    def _not_found(self, request: HttpRequest, exception: Http404) -> HttpResponse:
        handler = get_resolver(getattr(request, "urlconf", None)).resolve_error_handler(404)
        # A 404 handler takes the exception too (django-stubs types it with the request only).
        return handler(request, exception)  # type: ignore[call-arg]
