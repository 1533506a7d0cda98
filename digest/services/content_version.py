"""One value in the shared cache that changes whenever what the public lists show may have
changed (ingestion, moderation). Entries stored with `store_current` are only found again while
the version they were stored under is the current one, so changing it makes every cached list
stale at once without having to know which keys exist.

Each process also keeps the version it last read, for API_CONTENT_VERSION_SECONDS, and a copy
of what it stored or found (the `local` cache, API_LOCAL_PAGES entries): an entry found there
under that version costs no round trip to the shared cache. A change made in another process
is seen within API_CONTENT_VERSION_SECONDS; one made in this process, at once."""

import time

from django.conf import settings
from django.core.cache import cache, caches

KEY = "digest:content-version"


def content_changed() -> None:
    cache.set(KEY, time.time_ns(), timeout=None)
    caches["local"].delete(KEY)


def recent_version() -> int | None:
    """The version as this process read it within API_CONTENT_VERSION_SECONDS, if it did."""
    return caches["local"].get(KEY)


def remember_version(found: int | None) -> int:
    """The version just read from the shared cache (`found`), kept by this process for
    API_CONTENT_VERSION_SECONDS. A missing one (cache restarted or evicted) starts a new one:
    old entries stay unused."""
    version = found or cache.get_or_set(KEY, time.time_ns, timeout=None)
    caches["local"].set(KEY, version, timeout=settings.API_CONTENT_VERSION_SECONDS)
    return version


def read_version() -> int:
    """The current version: this process's recent copy, else read from the shared cache."""
    return recent_version() or remember_version(cache.get(KEY))


def fetch_current(key: str, *, version: int, timeout: int) -> object | None:
    """What `key` holds if it was stored under `version`: this process's copy, else the shared
    cache's (then copied here for `timeout` seconds at most)."""
    local = caches["local"]
    stored_version, value = local.get(key, (None, None))
    if stored_version == version:
        return value
    stored_version, value = cache.get(key, (None, None))
    if stored_version != version:
        return None
    local.set(key, (version, value), timeout=timeout)
    return value


def store_current(key: str, value: object, *, version: int, timeout: int) -> None:
    cache.set(key, (version, value), timeout=timeout)
    caches["local"].set(key, (version, value), timeout=timeout)
