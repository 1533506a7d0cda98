"""Paper vectors in the database: embed what has no vector for the current model.

Vectors are float32 bytes in PaperEmbedding (portable across SQLite and PostgreSQL, which has
no pgvector here); search and ranking read them from the shared on-disk index (`index.py`),
which each run brings up to date once its vectors are stored.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction

from digest.models import Paper, PaperEmbedding
from digest.services.embedding.embedder import Embedder, get_embedder, paper_text
from digest.services.embedding.index import bump_version, refresh_index
from digest.services.embedding.vector_store import to_bytes


def current_embedder() -> Embedder:
    return get_embedder(
        model_name=settings.DIGEST_EMBEDDING_MODEL,
        device=settings.DIGEST_DEVICE,
        batch_size=settings.DIGEST_EMBED_BATCH_SIZE,
    )


@dataclass
class EmbedSummary:
    embedded: int
    seconds: float
    model_name: str
    device: str

    @property
    def papers_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds else 0.0


def papers_without_vector(model_name: str):
    return Paper.objects.exclude(embeddings__model_name=model_name).order_by("arxiv_id")


def embed_missing_papers(
    *, chunk_size: int = 1024, progress: Callable[[int], None] | None = None
) -> EmbedSummary:
    """Embed title + abstract of every paper with no vector for the current model.
    With nothing new, the model is not even loaded."""
    model_name = settings.DIGEST_EMBEDDING_MODEL
    started, embedded, embedder = time.perf_counter(), 0, None
    while chunk := list(
        papers_without_vector(model_name).values_list("pk", "title", "abstract")[:chunk_size]
    ):
        embedder = embedder or current_embedder()
        texts = [paper_text(title=title, abstract=abstract) for _, title, abstract in chunk]
        vectors = embedder.encode(texts)
        store_vectors([pk for pk, _, _ in chunk], vectors, model_name=model_name)
        embedded += len(chunk)
        if progress:
            progress(len(chunk))
    if embedded:
        refresh_index(model_name=model_name)
    return EmbedSummary(
        embedded=embedded,
        seconds=time.perf_counter() - started,
        model_name=model_name,
        device=embedder.device if embedder else "not loaded",
    )


@transaction.atomic
def store_vectors(paper_ids: list[str], vectors: np.ndarray, *, model_name: str) -> None:
    """Vectors of these papers under `model_name`, and the version every process's index
    compares bumped, in one transaction."""
    bump_version(model_name=model_name)
    PaperEmbedding.objects.bulk_create(
        [
            PaperEmbedding(
                paper_id=pk, model_name=model_name, dim=vector.shape[0], vector=to_bytes(vector)
            )
            for pk, vector in zip(paper_ids, vectors, strict=True)
        ],
        ignore_conflicts=True,  # a concurrent run embedded the same paper: keep one
    )
