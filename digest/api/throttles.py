"""The API's rate limit per client IP."""

from django.conf import settings
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

from digest.services.rate_limits import client_ip, hit_reading, parse_rate


class ClientRateThrottle(BaseThrottle):
    """API_THROTTLE_RATE requests per client IP and fixed window: a counter, not DRF's log of
    timestamps, so a request costs the same whatever the rate. The rate is read per request,
    so a changed setting takes effect at once. A client's first request of a window in a
    process is counted with that process's next round trip (rate_limits.FirstAttempts): a
    client may get one request per web process beyond the rate in a window."""

    retry_after: float | None = None

    def allow_request(self, request: HttpRequest, view: object) -> bool:
        return self.allow_reading(request, read=None)[0]

    def allow_reading(self, request: HttpRequest, *, read: str | None) -> tuple[bool, object]:
        """allow_request, and the shared cache's entry `read` fetched in the same round trip."""
        limit, window = parse_rate(settings.API_THROTTLE_RATE)
        key = f"api:{client_ip(request)}"
        self.retry_after, value = hit_reading(
            key=key, limit=limit, window=window, read=read, defer_first=True
        )
        return self.retry_after is None, value

    def wait(self) -> float | None:
        return self.retry_after
