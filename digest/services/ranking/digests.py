"""Pick each subscriber's papers for a day: all subscribers ranked in one batched pass.

The ORM side gathers arrays (candidate vectors, trending scores, interest vectors, papers
already sent); `personal.rank_for_subscribers` does the matrix work; this module turns the
numbers back into picks with a reason a reader can read.
"""

import re
from dataclasses import dataclass
from datetime import date

import numpy as np
import torch
from django.conf import settings
from django.db.models import Q

from digest.models import Delivery, DeliveryItem, Paper, PaperFeedback, Subscriber
from digest.services.embedding.embedder import resolve_device
from digest.services.embedding.index import paper_index
from digest.services.embedding.papers import current_embedder, from_bytes, to_bytes
from digest.services.papers import days_with_papers, trending_why, visible_papers
from digest.services.ranking.categories import category_name
from digest.services.ranking.personal import (
    DISLIKED,
    LIKED,
    TOPIC,
    interest_vectors,
    rank_for_subscribers,
)


@dataclass(frozen=True)
class Pick:
    paper_id: str
    score: float
    relevance: float
    trending: float
    why: str


@dataclass(frozen=True)
class Candidates:
    ids: list[str]
    vectors: np.ndarray  # (P, dim) unit rows
    trending: np.ndarray  # (P,) raw trending scores
    whys: list[str]
    categories: list[set[str]]


def candidate_papers(*, day: date) -> Candidates:
    """Visible, embedded papers of the last RANK_CANDIDATE_DAYS days that have papers, up to
    `day` (arXiv announces nothing on weekends, and a quiet week still makes a digest)."""
    days = [d for d in days_with_papers(limit=365) if d <= day][: settings.RANK_CANDIDATE_DAYS]
    index = paper_index()
    rows = list(
        visible_papers()
        .filter(
            Q(published__date__in=days) | Q(signals__featured_on__in=days) | Q(featured_on__in=days)
        )
        .filter(pk__in=index.positions.keys())
        .select_related("trending")
        .prefetch_related("categories")
        .distinct()
        .order_by("arxiv_id")
    )
    dim = index.matrix.shape[1] if index.ids else 0
    return Candidates(
        ids=[paper.pk for paper in rows],
        vectors=np.stack([index.vector(p.pk) for p in rows]) if rows else np.zeros((0, dim)),
        trending=np.array([_trending_score(paper) for paper in rows], dtype=np.float32),
        whys=[trending_why(paper) for paper in rows],
        categories=[{c.term for c in paper.categories.all()} for paper in rows],
    )


def _trending_score(paper: Paper) -> float:
    return getattr(getattr(paper, "trending", None), "score", 0.0) or 0.0


# --- Interests ---------------------------------------------------------------------------


def topics_of(subscriber: Subscriber) -> list[str]:
    """Free-text interests split into topics (one per line, comma or semicolon), plus the
    names of their arXiv categories: each topic counts on its own, so a long list does not
    drown a short one."""
    topics = [t.strip() for t in re.split(r"[\n,;]+", subscriber.interests) if t.strip()]
    return topics + [category_name(term) for term in subscriber.categories]


def _evidence(subscribers: list[Subscriber]) -> tuple[list[np.ndarray], list[int], list[int]]:
    """Every vector that says something about these subscribers' interests, with its owner
    row and kind: topic texts (embedded in one batch), liked and disliked papers."""
    texts, owners, kinds = [], [], []
    for row, subscriber in enumerate(subscribers):
        for topic in topics_of(subscriber):
            texts.append(topic)
            owners.append(row)
            kinds.append(TOPIC)
    vectors = list(current_embedder().encode(texts)) if texts else []
    rows = {subscriber.pk: row for row, subscriber in enumerate(subscribers)}
    index = paper_index()
    feedback = PaperFeedback.objects.filter(subscriber__in=subscribers)
    for subscriber_id, paper_id, kind in feedback.values_list("subscriber_id", "paper_id", "kind"):
        vector = index.vector(paper_id)
        if vector is not None:
            vectors.append(vector)
            owners.append(rows[subscriber_id])
            kinds.append(LIKED if kind == PaperFeedback.Kind.LIKE else DISLIKED)
    return vectors, owners, kinds


def interest_matrix(subscribers: list[Subscriber], dim: int) -> np.ndarray:
    """(S, dim) unit interest rows; cached on each subscriber for the current model, so only
    readers whose preferences or feedback changed cost any model work."""
    model_name = settings.DIGEST_EMBEDDING_MODEL
    stale = [s for s in subscribers if s.interest_model != model_name or not s.interest_vector]
    if stale:
        vectors, owners, kinds = _evidence(stale)
        fresh = interest_vectors(
            vectors=torch.from_numpy(np.stack(vectors)) if vectors else torch.zeros((0, dim)),
            owners=torch.tensor(owners, dtype=torch.int64),
            kinds=torch.tensor(kinds, dtype=torch.int64),
            n_subscribers=len(stale),
        ).numpy()
        for subscriber, vector in zip(stale, fresh, strict=True):
            subscriber.interest_vector, subscriber.interest_model = to_bytes(vector), model_name
        Subscriber.objects.bulk_update(stale, ["interest_vector", "interest_model"])
    # A copy: torch wants a writable array, and the cached bytes are read-only.
    return from_bytes([s.interest_vector for s in subscribers], dim).copy()


def forget_interests(*, subscriber_id: int) -> None:
    """Preferences or feedback changed: the next ranking recomputes this reader's vector."""
    Subscriber.objects.filter(pk=subscriber_id).update(interest_model="")


def record_feedback(*, subscriber_id: int, paper_id: str, kind: str) -> PaperFeedback:
    """ "More like this" / "less like this": remembered, and the interests move with it."""
    if kind not in PaperFeedback.Kind.values:
        raise ValueError(f"feedback must be one of {PaperFeedback.Kind.values}, not {kind!r}")
    feedback, _ = PaperFeedback.objects.update_or_create(
        subscriber_id=subscriber_id, paper_id=paper_id, defaults={"kind": kind}
    )
    forget_interests(subscriber_id=subscriber_id)
    return feedback


# --- Ranking -----------------------------------------------------------------------------


def _already_sent(subscribers: list[Subscriber], candidates: Candidates):
    columns = {pk: col for col, pk in enumerate(candidates.ids)}
    rows = {subscriber.pk: row for row, subscriber in enumerate(subscribers)}
    # Papers of digests that went out, may have (ambiguous) or are about to; a failed digest
    # never reached the reader, so its papers may still come.
    sent = (
        DeliveryItem.objects.filter(
            delivery__subscriber__in=subscribers, paper_id__in=candidates.ids
        )
        .exclude(delivery__state=Delivery.State.FAILED)
        .values_list("delivery__subscriber_id", "paper_id")
    )
    pairs = [(rows[sid], columns[pid]) for sid, pid in sent]
    return (
        torch.tensor([r for r, _ in pairs], dtype=torch.int64),
        torch.tensor([c for _, c in pairs], dtype=torch.int64),
    )


# Cosine above which we tell a reader a paper matches their interests.
RELEVANT = 0.3
# Normalised trending part above which a pick is "among the most talked-about of the day".
TALKED_ABOUT = 0.5


def _personal_reason(relevance: float, trending: float, shared: list[str]) -> str:
    reasons = []
    if relevance >= RELEVANT:
        reasons.append(f"matches your interests ({relevance:.2f} similarity)")
    if shared:
        reasons.append(f"in {', '.join(shared)}, which you follow")
    if not reasons and trending >= TALKED_ABOUT:
        reasons.append("among the most talked-about papers of the day")
    # MMR picked it to keep the digest from being ten variants of one paper.
    return "; ".join(reasons) or "picked for variety"


def _why(candidates: Candidates, col: int, pick: tuple[float, float], reader: Subscriber) -> str:
    relevance, trending = pick
    shared = sorted(candidates.categories[col] & set(reader.categories))
    personal = _personal_reason(relevance, trending, shared).capitalize()
    signals = candidates.whys[col]
    return f"{personal}. Trending: {signals}." if signals else f"{personal}."


def pick_papers(
    *, subscriber_ids: list[int], day: date, k: int | None = None
) -> dict[int, list[Pick]]:
    """Each subscriber's papers for `day`, best first, none already sent to them, none
    hidden, diversified; ranked for all of them in batched matrix operations."""
    subscribers = list(Subscriber.objects.filter(pk__in=subscriber_ids).order_by("pk"))
    candidates = candidate_papers(day=day)
    if not subscribers or not candidates.ids:
        return {subscriber.pk: [] for subscriber in subscribers}
    sizes = [k or subscriber.digest_size for subscriber in subscribers]
    result = rank_for_subscribers(
        interests=torch.from_numpy(interest_matrix(subscribers, candidates.vectors.shape[1])),
        candidates=torch.from_numpy(candidates.vectors),
        trending=torch.from_numpy(candidates.trending),
        exclude=_already_sent(subscribers, candidates),
        k=max(sizes),
        relevance_weight=settings.RANK_RELEVANCE_WEIGHT,
        trending_weight=settings.RANK_TRENDING_WEIGHT,
        mmr_lambda=settings.RANK_MMR_LAMBDA,
        chunk_size=settings.RANK_CHUNK_SIZE,
        device=resolve_device(settings.DIGEST_DEVICE),
    )
    # Plain lists once: reading tensor cells one by one costs more than the ranking itself.
    indices, scores = result.indices.tolist(), result.scores.tolist()
    relevance, trending = result.relevance.tolist(), result.trending.tolist()
    picks = {}
    for row, subscriber in enumerate(subscribers):
        picks[subscriber.pk] = [
            Pick(
                paper_id=candidates.ids[col],
                score=scores[row][rank],
                relevance=relevance[row][rank],
                trending=trending[row][rank],
                why=_why(candidates, col, (relevance[row][rank], trending[row][rank]), subscriber),
            )
            for rank, col in enumerate(indices[row][: sizes[row]])
            if col >= 0
        ]
    return picks
