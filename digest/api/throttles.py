"""The API's rate limit per client IP."""

from django.conf import settings
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

from digest.services.rate_limits import client_ip, hit, parse_rate


class ClientRateThrottle(BaseThrottle):
    """API_THROTTLE_RATE requests per client IP and fixed window: a counter, not DRF's log of
    timestamps, so a request costs the same whatever the rate. The rate is read per request,
    so a changed setting takes effect at once."""

    retry_after: float | None = None

    def allow_request(self, request: HttpRequest, view: object) -> bool:
        limit, window = parse_rate(settings.API_THROTTLE_RATE)
        key = f"api:{client_ip(request)}"
        self.retry_after = hit(key=key, limit=limit, window=window)
        return self.retry_after is None

    def wait(self) -> float | None:
        return self.retry_after
