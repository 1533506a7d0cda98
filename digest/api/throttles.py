"""Rate limits per client IP, for the API and for readers' problem reports."""

from django.conf import settings
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

from digest.services.rate_limits import hit, parse_rate


def client_ip(request: HttpRequest) -> str:
    # Behind a proxy the header it sets (CLIENT_IP_HEADER), whose last entry is the one the
    # proxy wrote itself; otherwise the socket's address, which a client cannot choose.
    raw = request.META.get(settings.CLIENT_IP_HEADER or "REMOTE_ADDR", "")
    return raw.split(",")[-1].strip() or "unknown"


class ClientRateThrottle(BaseThrottle):
    """API_THROTTLE_RATE requests per client IP and fixed window: a counter, not DRF's log of
    timestamps, so a request costs the same whatever the rate. The rate is read per request,
    so a changed setting takes effect at once."""

    scope = "api"
    retry_after: float | None = None

    def rate(self) -> str:
        return settings.API_THROTTLE_RATE

    def allow_request(self, request: HttpRequest, view: object) -> bool:
        limit, window = parse_rate(self.rate())
        key = f"{self.scope}:{client_ip(request)}"
        self.retry_after = hit(key=key, limit=limit, window=window)
        return self.retry_after is None

    def wait(self) -> float | None:
        return self.retry_after


class ReportRateThrottle(ClientRateThrottle):
    scope = "report"

    def rate(self) -> str:
        return settings.REPORT_RATE
