"""Fixed-window rate limits in the shared cache (Redis in production): one counter per key and
window, so a check costs one round trip to Redis whatever the limit; and the client IP that every
limit (signup, reports, the API, admin logins) counts by."""

import functools
import ipaddress
import time

from django.conf import settings
from django.core.cache import cache, caches
from django.http import HttpRequest
from django_redis.cache import RedisCache
from ipware import get_client_ip
from redis import Redis
from redis.commands.core import Script

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


# A process may take several attempts of a window at once (a lease) from the shared counter
# and count them in its own memory (the `local` cache): a busy client then costs a round trip
# per lease, not per request. A lease is at most 1/LEASE_SHARE of the limit, so the limit is
# never exceeded, and a client whose requests are spread over P processes may be refused up
# to P x limit / LEASE_SHARE attempts early (attempts leased by a process it left). A limit
# under 2 x LEASE_SHARE per window (the API's 120/minute) is counted one attempt at a time.
LEASE_SHARE = 64


def hit(*, key: str, limit: int, window: int) -> float | None:
    """Count one attempt under `key`; None if it is within `limit` for the current window,
    else the seconds until the window ends."""
    return hit_reading(key=key, limit=limit, window=window, read=None)[0]


def hit_reading(
    *, key: str, limit: int, window: int, read: str | None
) -> tuple[float | None, object | None]:
    """`hit`, and what the cache holds under `read` (None for nothing), fetched in the same
    round trip to Redis. An attempt within this process's lease costs no round trip (and
    reading `read` then costs one)."""
    now = time.time()
    start = int(now // window) * window
    bucket, left = f"rate:{key}:{start}", start + window - now
    cap = limit // LEASE_SHARE
    if cap > 1 and _take_leased(bucket):
        return None, None if read is None else cache.get(read)
    size = min(cap, caches["local"].get(f"{bucket}:next", 1)) if cap > 1 else 1
    attempts, value = _count(bucket, window=window, read=read, amount=size)
    # What this lease may still use: never more than the limit leaves, whoever took the rest.
    granted = max(0, min(size, limit - (attempts - size)))
    if cap > 1 and attempts > size:
        # The next lease grows with the window's count, so one busy client costs a round trip
        # per doubling of its count, up to the cap; a client's first attempt in a window
        # leaves nothing here (many clients would crowd the API's pages out of this memory).
        leases = {f"{bucket}:left": granted - 1, f"{bucket}:next": attempts}
        caches["local"].set_many(leases, timeout=left)
    return (None if granted else left), value


def _take_leased(bucket: str) -> bool:
    """One attempt from this process's lease on `bucket`, if it has one left."""
    try:
        return caches["local"].decr(f"{bucket}:left") >= 0
    except ValueError:  # no lease in this window (or no local cache: API_LOCAL_PAGES=0)
        return False


# One command: count the attempts (the counter is created with its window's expiry) and read
# the other key, atomically: a round trip with one reply to parse.
COUNT_AND_READ = """
local attempts = redis.call('INCRBY', KEYS[1], ARGV[2])
if attempts == tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if KEYS[2] then return {attempts, redis.call('GET', KEYS[2])} end
return {attempts, false}
"""


def _count(bucket: str, *, window: int, read: str | None, amount: int) -> tuple[int, object | None]:
    """The bucket's count with `amount` attempts more, and the entry `read`: on Redis in one
    round trip (where django-redis's incr, then add for a window's first attempt, makes one or
    three); elsewhere by cache calls."""
    backend = caches["default"]  # the backend itself: `cache` is a proxy to it
    if not isinstance(backend, RedisCache):
        try:
            attempts = cache.incr(bucket, amount)
        except ValueError:  # the window's first attempt; add() fails if another came first
            added = cache.add(bucket, amount, timeout=window)
            attempts = amount if added else cache.incr(bucket, amount)
        return attempts, None if read is None else cache.get(read)
    client = backend.client
    keys = [client.make_key(bucket)] + ([] if read is None else [client.make_key(read)])
    attempts, value = _script(client.get_client(write=True))(keys=keys, args=[window, amount])
    return attempts, None if value is None else client.decode(value)


@functools.cache
def _script(redis: Redis) -> Script:
    """COUNT_AND_READ registered once per Redis client: run by its SHA1 (EVALSHA), loaded by
    redis-py the first time a server does not know it."""
    return redis.register_script(COUNT_AND_READ)
