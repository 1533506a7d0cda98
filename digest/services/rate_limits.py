"""Fixed-window rate limits in the shared cache (Redis in production): one counter per key and
window, so a check costs one round trip to Redis whatever the limit; and the client IP that every
limit (signup, reports, the API, admin logins) counts by."""

import functools
import ipaddress
import threading
import time

from django.conf import settings
from django.core.cache import cache, caches
from django.http import HttpRequest
from django_redis.cache import RedisCache
from python_ipware import IpWare
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
        header = settings.CLIENT_IP_HEADER
        value = request.META.get(header)
        # ipware looks for other spellings of a header (dashes, lower case) only when it is
        # missing: given the header alone, or nothing when no key of META is spelled so, it
        # answers as given all of META, without folding every key of it (django-ipware's
        # adapter, the same engine, spent more than the API's cached hit on that).
        address, name = None, _spelled(header)
        if isinstance(value, str):
            address = _forwarded_client(header=header, proxies=proxies, value=value)
        elif any(_spelled(key) == name for key in request.META):
            address, _trusted = _resolver(header, proxies - 1).get_client_ip(request.META)
        if address is not None:
            return str(address)
    return request.META.get("REMOTE_ADDR", "")


def _spelled(key: object) -> str | None:
    """A header's name as ipware compares names."""
    return key.upper().replace("-", "_") if isinstance(key, str) else None


@functools.lru_cache(maxsize=16)
def _resolver(header: str, proxy_count: int) -> IpWare:
    return IpWare(precedence=(header,), leftmost=True, proxy_count=proxy_count, algorithm="modern")


@functools.lru_cache(maxsize=1024)
def _forwarded_client(*, header: str, proxies: int, value: str) -> str | None:
    # A busy client sends the same chain request after request: read once per process. At
    # most 1,024 chains of at most a request header's 8 KiB (gunicorn's limit) are kept.
    address, _trusted = _resolver(header, proxies - 1).get_client_ip({header: value})
    return None if address is None else str(address)


def client_ip(request: HttpRequest) -> str:
    """The client as every limit (signup, reports, the API, admin logins) counts it: its
    address, or for IPv6 its /64 network."""
    return _bucket(_address(request))


@functools.lru_cache(maxsize=1024)
def _bucket(raw: str) -> str:
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
    *, key: str, limit: int, window: int, read: str | None, defer_first: bool = False
) -> tuple[float | None, object | None]:
    """`hit`, and what the cache holds under `read` (None for nothing), fetched in the same
    round trip to Redis. An attempt within this process's lease costs no round trip (and
    reading `read` then costs one); so does, with `defer_first`, a client's first attempt of
    the window in this process when nothing is to be read (see FirstAttempts)."""
    now = time.time()
    start = int(now // window) * window
    end = start + window
    bucket, left = f"rate:{key}:{start}", end - now
    # A client this process has not counted in this window has no lease here either.
    deferrable = defer_first and read is None and _on_redis()
    if deferrable and FIRST_ATTEMPTS.admit(bucket, window=window, end=end, now=now):
        return None, None
    cap = limit // LEASE_SHARE
    if cap > 1 and _take_leased(bucket):
        return None, None if read is None else cache.get(read)
    size = min(cap, caches["local"].get(f"{bucket}:next", 1)) if cap > 1 else 1
    attempts, value = _count(bucket, window=window, end=end, read=read, amount=size)
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


class FirstAttempts:
    """The first attempt of a window that each client makes in this process is admitted at
    once and counted in the shared counter with this process's next round trip to Redis
    (within FLUSH_SECONDS, or at once when a client comes back): a client's first attempt is
    within any limit of one or more, unless other processes have counted the rest. So the
    many clients that make one request each cost no round trip, and a client may get at most
    one attempt per process beyond the limit in a window (its first here, after it spent the
    limit elsewhere); every attempt is counted all the same, a process's last second of them
    lost only when it stops. Threads of one process share it."""

    # Bounds on what waits here: its age, and how many buckets one round trip carries.
    FLUSH_SECONDS = 1.0
    MOST_UNSENT = 500
    # Clients remembered per process and window; beyond this, every attempt is counted at once.
    MOST_SEEN = 100_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        """Forget every window (a process that has just started)."""
        self._seen: dict[str, float] = {}  # bucket -> when its window ends
        self._unsent: dict[str, tuple[int, float]] = {}  # bucket -> (window, its end)
        self._since = 0.0

    def admit(self, bucket: str, *, window: int, end: float, now: float) -> bool:
        """Whether this attempt is the client's first of the window here, to be counted later;
        False when it must be counted now (a returning client, or what waits must go)."""
        with self._lock:
            if bucket in self._seen:
                return False
            if self._unsent and (
                now - self._since >= self.FLUSH_SECONDS or len(self._unsent) >= self.MOST_UNSENT
            ):
                return False
            if len(self._seen) >= self.MOST_SEEN:
                self._seen = {key: ends for key, ends in self._seen.items() if ends > now}
                if len(self._seen) >= self.MOST_SEEN:
                    return False
            if not self._unsent:
                self._since = now
            self._seen[bucket] = end
            self._unsent[bucket] = (window, end)
            return True

    def take(self, *, counting: str, end: float) -> list[tuple[str, int]]:
        """(bucket, window) of each waiting attempt whose window is still open, to count in
        this round trip; `counting`, the bucket being counted now, is remembered as seen."""
        with self._lock:
            unsent, self._unsent = self._unsent, {}
            self._seen.setdefault(counting, end)
        now = time.time()
        return [(bucket, window) for bucket, (window, ends) in unsent.items() if ends > now]


FIRST_ATTEMPTS = FirstAttempts()


def _on_redis() -> bool:
    return isinstance(caches["default"], RedisCache)


# One command: count the attempts (a counter is created with its window's expiry), count the
# first attempts that waited in this process (KEYS[3:], one each), and read the other key,
# atomically: a round trip with one reply to parse.
COUNT_AND_READ = """
local function count(key, amount, window)
  local attempts = redis.call('INCRBY', key, amount)
  if attempts == tonumber(amount) then redis.call('EXPIRE', key, window) end
  return attempts
end
local attempts = count(KEYS[1], ARGV[2], ARGV[1])
for i = 3, #KEYS do count(KEYS[i], 1, ARGV[i + 1]) end
if ARGV[3] == '1' then return {attempts, redis.call('GET', KEYS[2])} end
return {attempts, false}
"""


def _count(
    bucket: str, *, window: int, end: float, read: str | None, amount: int
) -> tuple[int, object | None]:
    """The bucket's count with `amount` attempts more, and the entry `read`: on Redis in one
    round trip (where django-redis's incr, then add for a window's first attempt, makes one or
    three), with the first attempts that waited in this process; elsewhere by cache calls."""
    backend = caches["default"]  # the backend itself: `cache` is a proxy to it
    if not isinstance(backend, RedisCache):
        try:
            attempts = cache.incr(bucket, amount)
        except ValueError:  # the window's first attempt; add() fails if another came first
            added = cache.add(bucket, amount, timeout=window)
            attempts = amount if added else cache.incr(bucket, amount)
        return attempts, None if read is None else cache.get(read)
    waiting = FIRST_ATTEMPTS.take(counting=bucket, end=end)
    # The counted bucket's own first attempt, if it waited, is in its amount: the reply then
    # holds every attempt admitted so far.
    amount += sum(1 for waited, _ in waiting if waited == bucket)
    waiting = [(waited, seconds) for waited, seconds in waiting if waited != bucket]
    client = backend.client
    keys = [client.make_key(bucket), client.make_key(read or bucket)]
    keys += [client.make_key(waited) for waited, _ in waiting]
    args = [window, amount, int(read is not None), *(seconds for _, seconds in waiting)]
    attempts, value = _script(client.get_client(write=True))(keys=keys, args=args)
    return attempts, None if value is None else client.decode(value)


@functools.cache
def _script(redis: Redis) -> Script:
    """COUNT_AND_READ registered once per Redis client: run by its SHA1 (EVALSHA), loaded by
    redis-py the first time a server does not know it."""
    return redis.register_script(COUNT_AND_READ)
