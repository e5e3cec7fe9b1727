from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:  # replaced by the ops work
    return JsonResponse({"status": "ok"})
