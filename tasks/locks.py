"""One run at a time of a scheduled task, across every worker that shares the cache.

Two beat processes (a deployment mistake, or a rolling restart) or a run that outlasts its
interval would otherwise start a second copy: our runs are idempotent, so that is only waste
(ranking every due reader twice) or worse, a second client of arXiv breaking its limit of
one request every 3 seconds. The lock expires by itself, so a run whose worker died holds
the next ones up for one interval at most.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache


def lock_key(name: str) -> str:
    return f"tasks:running:{name}"


@contextmanager
def single_run(name: str, *, expires_seconds: float) -> Iterator[bool]:
    """Yields whether this run got the lock; the caller skips its work if not."""
    key = lock_key(name)
    acquired = cache.add(key, "held", timeout=max(int(expires_seconds), 1))
    try:
        yield acquired
    finally:
        if acquired:
            cache.delete(key)
