"""One run at a time of a scheduled task, across every worker that shares the cache.

Two beat processes (a deployment mistake, or a rolling restart) or a run that outlasts its
interval would otherwise start a second copy: our runs are idempotent, so that is only waste
(ranking every due reader twice) or worse, a second client of arXiv breaking its limit of
one request every 3 seconds. The lock expires by itself, so a run whose worker died holds
the next ones up for one interval at most; and it is released only by its owner, so a run
that outlasted its lock leaves the next run's lock alone.
"""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache
from redis.exceptions import LockError

log = logging.getLogger(__name__)


def lock_key(name: str) -> str:
    return f"tasks:running:{name}"


class _MemoryLock:
    """The lock of a cache without one (the quick start's process memory, which no other
    process shares anyway): the same owner check as Redis's, without its atomicity."""

    def __init__(self, key: str, *, timeout: int):
        self.key, self.timeout, self.token = key, timeout, uuid.uuid4().hex

    def acquire(self, *, blocking: bool) -> bool:
        return cache.add(self.key, self.token, timeout=self.timeout)

    def release(self) -> None:
        if cache.get(self.key) != self.token:
            raise LockError("lock expired and taken by another run")
        cache.delete(self.key)


@contextmanager
def single_run(name: str, *, expires_seconds: float) -> Iterator[bool]:
    """Yields whether this run got the lock; the caller skips its work if not."""
    timeout = max(int(expires_seconds), 1)
    # django-redis: a redis-py lock, whose release deletes the key only if it holds our token.
    lock = (
        cache.lock(lock_key(name), timeout=timeout)
        if hasattr(cache, "lock")
        else _MemoryLock(lock_key(name), timeout=timeout)
    )
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            try:
                lock.release()
            except LockError:
                log.warning("run %s outlasted its lock (%d s); another run holds it", name, timeout)
