"""Error pages: API clients get JSON, readers get the HTML page."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import bad_request, page_not_found


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    # A path no API route matches (e.g. an id with a line break) still gets the API's JSON 404.
    if is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def invalid(request: HttpRequest, errors: dict[str, list[str]]) -> HttpResponse:
    """A 400 for bad input: the API's `field -> messages` JSON, or the HTML error page."""
    if is_api(request):
        return JsonResponse(errors, status=400)
    return bad_request(request, ValueError(errors))
