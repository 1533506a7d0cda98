"""Fixed-window rate limits in the shared cache (Redis in production): one counter per key and
window, so a check costs one round trip to Redis whatever the limit; and the client IP that every
limit (signup, reports, the API, admin logins) counts by."""

import ipaddress
import time

from django.conf import settings
from django.core.cache import cache, caches
from django.http import HttpRequest
from django_redis.cache import RedisCache
from ipware import get_client_ip

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# One IPv6 customer (a home line, a VM) holds a whole /64: counted by address, it would get
# 2**64 budgets.
IPV6_BUCKET_PREFIX = 64


def _address(request: HttpRequest) -> str:
    # Behind TRUSTED_PROXY_COUNT proxies, the entry of CLIENT_IP_HEADER written by the first
    # of them (each proxy appends the address it saw, the last one's is REMOTE_ADDR: ipware
    # counts the proxies listed in the header). What a client wrote before it is ignored;
    # without proxies, or a shorter chain than configured, the socket's address.
    if proxies := settings.TRUSTED_PROXY_COUNT:
        address, _routable = get_client_ip(
            request,
            proxy_count=proxies - 1,
            request_header_order=[settings.CLIENT_IP_HEADER],
            strict=False,
        )
        if address:
            return address
    return request.META.get("REMOTE_ADDR", "")


def client_ip(request: HttpRequest) -> str:
    """The client as every limit (signup, reports, the API, admin logins) counts it: its
    address, or for IPv6 its /64 network."""
    raw = _address(request)
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw or "unknown"
    if address.version == 6 and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/{IPV6_BUCKET_PREFIX}", strict=False))
    return str(getattr(address, "ipv4_mapped", None) or address)


def parse_rate(rate: str) -> tuple[int, int]:
    """(count, seconds) of a rate in DRF's syntax: "120/minute" is (120, 60)."""
    count, period = rate.split("/")
    return int(count), PERIODS[period.strip()[0]]


def hit(*, key: str, limit: int, window: int) -> float | None:
    """Count one attempt under `key`; None if it is within `limit` for the current window,
    else the seconds until the window ends."""
    return hit_reading(key=key, limit=limit, window=window, read=None)[0]


def hit_reading(
    *, key: str, limit: int, window: int, read: str | None
) -> tuple[float | None, object | None]:
    """`hit`, and what the cache holds under `read` (None for nothing), fetched in the same
    round trip to Redis."""
    now = time.time()
    start = int(now // window) * window
    attempts, value = _count(f"rate:{key}:{start}", window=window, read=read)
    return (None if attempts <= limit else start + window - now), value


def _count(bucket: str, *, window: int, read: str | None) -> tuple[int, object | None]:
    """The bucket's count with this attempt, and the entry `read`. On Redis one MULTI/EXEC
    (create the counter with its expiry unless it exists, increment, read), which
    django-redis's incr + add would make two or three round trips; elsewhere cache calls."""
    backend = caches["default"]  # the backend itself: `cache` is a proxy to it
    if not isinstance(backend, RedisCache):
        try:
            attempts = cache.incr(bucket)
        except ValueError:  # the window's first attempt; add() fails if another came first
            attempts = 1 if cache.add(bucket, 1, timeout=window) else cache.incr(bucket)
        return attempts, None if read is None else cache.get(read)
    client = backend.client
    counter = client.make_key(bucket)
    pipeline = client.get_client(write=True).pipeline(transaction=True)
    pipeline.set(counter, 0, ex=window, nx=True).incr(counter)
    if read is not None:
        pipeline.get(client.make_key(read))
    _created, attempts, *found = pipeline.execute()
    value = found[0] if found else None
    return attempts, None if value is None else client.decode(value)
