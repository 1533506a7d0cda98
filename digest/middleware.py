"""Request checks that every view shares, so no page has to repeat them."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from digest.views.errors import invalid

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
