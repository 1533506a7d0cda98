"""Request checks that every view shares, so no page has to repeat them."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse

from digest.views.errors import invalid, is_api

NUL = "\x00"
NUL_MESSAGE = "Null characters are not allowed."


class RefuseNulBytes:
    """No text we store or look up may hold a NUL: PostgreSQL refuses it with a DataError (a
    500) wherever a value reaches a query. One check here covers the path, every query and
    form parameter of every view, before any of them runs a query."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if NUL in request.path:
            return invalid(request, {"detail": [NUL_MESSAGE]})
        for params in (request.GET, request.POST):
            for name, values in params.lists():
                if NUL in name or any(NUL in value for value in values):
                    return invalid(request, {name.replace(NUL, ""): [NUL_MESSAGE]})
        return self.get_response(request)


# What every page takes; the API's views (DRF) answer their own methods.
PAGE_METHODS = ("GET", "HEAD", "POST")


class PageMethods:
    """A method no page serves is a 405 naming the ones it does, before CSRF would refuse a
    PUT with a misleading 403; OPTIONS gets that list and no page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api(request) or request.method in PAGE_METHODS:
            return self.get_response(request)
        if request.method == "OPTIONS":
            return HttpResponse(headers={"Allow": ", ".join(PAGE_METHODS)})
        return HttpResponseNotAllowed(PAGE_METHODS)


class ApiAnswersJson:
    """Under /api/ every error and redirect is JSON, also those that Django answers before an
    API view runs (a wrong Host, a missing slash) or that a non-JSON renderer would write (the
    schema view's 429). The first middleware, so it sees what all the others answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # 304 carries no body at all.
        if not is_api(request) or response.status_code < 300 or response.status_code == 304:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        data = getattr(response, "data", None)
        body = data if isinstance(data, dict) else {"detail": response.reason_phrase}
        answer = JsonResponse(body, status=response.status_code)
        for name, value in response.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                answer[name] = value
        return answer
