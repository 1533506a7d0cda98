"""Fixed-window rate limits in the shared cache (Redis in production): one counter per key and
window, so a check costs two cache operations whatever the limit; and the client IP that every
limit (signup, reports, the API, admin logins) counts by."""

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def client_ip(request: HttpRequest) -> str:
    # Behind a proxy the header it sets (CLIENT_IP_HEADER), whose last entry is the one the
    # proxy wrote itself; otherwise the socket's address, which a client cannot choose.
    raw = request.META.get(settings.CLIENT_IP_HEADER or "REMOTE_ADDR", "")
    return raw.split(",")[-1].strip() or "unknown"


def parse_rate(rate: str) -> tuple[int, int]:
    """(count, seconds) of a rate in DRF's syntax: "120/minute" is (120, 60)."""
    count, period = rate.split("/")
    return int(count), PERIODS[period.strip()[0]]


def hit(*, key: str, limit: int, window: int) -> float | None:
    """Count one attempt under `key`; None if it is within `limit` for the current window,
    else the seconds until the window ends."""
    now = time.time()
    start = int(now // window) * window
    bucket = f"rate:{key}:{start}"
    try:
        attempts = cache.incr(bucket)
    except ValueError:  # the window's first attempt; add() fails if another came first
        attempts = 1 if cache.add(bucket, 1, timeout=window) else cache.incr(bucket)
    return None if attempts <= limit else start + window - now
