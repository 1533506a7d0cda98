"""An exact nearest-neighbour index: every paper vector of the current model in one contiguous
float32 matrix, held per process and reloaded when the stored vectors change.

pgvector is not available on our machines; a matrix-vector product over a few hundred thousand
384-d vectors takes milliseconds (bench/search.py), so exact search is the simple, right tool.
"""

import threading
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Count, Max

from digest.models import PaperEmbedding
from digest.services.embedding.papers import from_bytes


@dataclass(frozen=True)
class VectorIndex:
    model_name: str
    ids: tuple[str, ...]
    matrix: np.ndarray  # (n, dim) float32, unit rows
    positions: dict[str, int]
    stamp: tuple

    def vector(self, paper_id: str) -> np.ndarray | None:
        position = self.positions.get(paper_id)
        return None if position is None else self.matrix[position]

    def nearest(
        self, query: np.ndarray, *, k: int, exclude: set[str] = frozenset()
    ) -> list[tuple[str, float]]:
        """The k ids most similar to a unit query vector, best first, skipping `exclude`."""
        if not self.ids or k <= 0:
            return []
        scores = self.matrix @ query.astype(np.float32)
        wanted = min(len(self.ids), k + len(exclude))
        top = np.argpartition(-scores, wanted - 1)[:wanted]
        ranked = top[np.argsort(-scores[top], kind="stable")]
        hits = [(self.ids[i], float(scores[i])) for i in ranked if self.ids[i] not in exclude]
        return hits[:k]


_lock = threading.Lock()
_cached: VectorIndex | None = None


def _stamp(model_name: str) -> tuple:
    stats = PaperEmbedding.objects.filter(model_name=model_name).aggregate(
        count=Count("id"), last=Max("id")
    )
    return model_name, stats["count"], stats["last"]


def paper_index() -> VectorIndex:
    """The current model's index; one cheap aggregate query decides whether to reload."""
    global _cached
    model_name = settings.DIGEST_EMBEDDING_MODEL
    stamp = _stamp(model_name)
    with _lock:
        if _cached is None or _cached.stamp != stamp:
            _cached = _load(model_name, stamp)
        return _cached


def _load(model_name: str, stamp: tuple) -> VectorIndex:
    rows = PaperEmbedding.objects.filter(model_name=model_name).order_by("id")
    ids, blobs, dim = [], [], 0
    for paper_id, vector, row_dim in rows.values_list("paper_id", "vector", "dim").iterator(
        chunk_size=5000
    ):
        ids.append(paper_id)
        blobs.append(vector)
        dim = row_dim
    return VectorIndex(
        model_name=model_name,
        ids=tuple(ids),
        matrix=from_bytes(blobs, dim),
        positions={paper_id: i for i, paper_id in enumerate(ids)},
        stamp=stamp,
    )
