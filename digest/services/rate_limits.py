"""Fixed-window rate limits in the shared cache (Redis in production): one counter per key and
window, so a check costs two cache operations whatever the limit."""

import time

from django.core.cache import cache

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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
