"""One value in the shared cache that changes whenever what the public lists show may have
changed (ingestion, moderation). Entries stored with `store_current` are only found again while
the version they were stored under is the current one, so changing it makes every cached list
stale at once without having to know which keys exist."""

import time

from django.core.cache import cache

KEY = "digest:content-version"


def content_changed() -> None:
    cache.set(KEY, time.time_ns(), timeout=None)


def fetch_current(key: str) -> tuple[int, object | None]:
    """The current version, and what `key` holds if it was stored under that version. One
    round trip to the cache for both."""
    found = cache.get_many([KEY, key])
    # A missing version (cache restarted or evicted) starts a new one: old entries stay unused.
    version = found.get(KEY) or cache.get_or_set(KEY, time.time_ns, timeout=None)
    stored_version, value = found.get(key, (None, None))
    return version, value if stored_version == version else None


def store_current(key: str, value: object, *, version: int, timeout: int) -> None:
    cache.set(key, (version, value), timeout=timeout)
