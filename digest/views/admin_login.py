"""The answer to an admin login that the failed-login throttle refuses: django-axes calls
`locked_out` (settings.AXES_LOCKOUT_CALLABLE) in place of the login page."""

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    # One page for every refusal, whatever username was typed and whether it exists: it says
    # only that this address or this username must wait, so it tells no one which users exist.
    cooloff = settings.AXES_COOLOFF_TIME.total_seconds()
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "minutes": max(1, round(cooloff / 60)),
    }
    response = render(request, "admin/login_throttled.html", context, status=429)
    # At most this long: the wait runs from the last counted failure.
    response["Retry-After"] = str(int(cooloff))
    return response
