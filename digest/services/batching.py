"""Work in batches: pages of records stored together, digests planned, claimed and sent together."""

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of `size` items in order, the last one shorter (`itertools.batched` arrives with
    Python 3.12, and gives tuples)."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
