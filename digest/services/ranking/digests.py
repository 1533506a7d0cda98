"""Pick each reader's papers for a day: all readers ranked in one batched pass.

The ORM side gathers arrays (candidate vectors, trending scores, each reader's facets: topic
lines, followed categories, liked papers, and the papers they marked "less like this");
`personal.rank_for_readers` does the matrix work; this module turns the numbers back into
two sections, "For you" and "Trending today", with a reason a reader can read.
"""

import re
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from itertools import compress

import numpy as np
import torch
from django.conf import settings

from digest.models import Delivery, DeliveryItem, Paper, PaperFeedback, Subscriber
from digest.services.embedding.embedder import resolve_device
from digest.services.embedding.index import paper_index
from digest.services.embedding.papers import current_embedder
from digest.services.embedding.vector_store import from_bytes, to_bytes
from digest.services.follow_ups import follow_ups
from digest.services.papers import days_with_papers, on_days, trending_why, visible_papers
from digest.services.ranking.authors import author_key
from digest.services.ranking.categories import category_name
from digest.services.ranking.lexical import LexicalIndex
from digest.services.ranking.personal import Cells, Readers, Weights, rank_for_readers
from digest.services.ranking.taste import fit_tastes

FOR_YOU, TRENDING = DeliveryItem.Section.FOR_YOU, DeliveryItem.Section.TRENDING
TITLE_IN_WHY = 60


@dataclass(frozen=True)
class Pick:
    paper_id: str
    score: float
    relevance: float
    trending: float
    why: str
    section: str = FOR_YOU


@dataclass(frozen=True)
class Candidates:
    ids: list[str]
    vectors: np.ndarray  # (P, dim) unit rows
    trending: np.ndarray  # (P,) raw trending scores
    whys: list[str]
    categories: list[set[str]]
    authors: list[list[str]]
    texts: list[str] = field(repr=False)

    @cached_property
    def lexical(self) -> LexicalIndex:
        return LexicalIndex.build(self.texts)

    @cached_property
    def columns(self) -> dict[str, int]:
        return {pk: col for col, pk in enumerate(self.ids)}


def candidate_papers(*, day: date) -> Candidates:
    """Visible, embedded papers of the last RANK_CANDIDATE_DAYS days that have papers, up to
    `day` (arXiv announces nothing on weekends, and a quiet week still makes a digest): one
    date range through the indexes of `on_days`, and the vectors from the index by id."""
    days = [d for d in days_with_papers(limit=365) if d <= day][: settings.RANK_CANDIDATE_DAYS]
    index = paper_index()
    if not days:
        return _candidates([], np.zeros((0, index.dim), dtype=np.float32))
    papers = on_days(visible_papers(), first=min(days), last=max(days))
    rows = list(
        papers.select_related("trending").prefetch_related("categories").order_by("arxiv_id")
    )
    vectors, found = index.vectors([paper.pk for paper in rows])
    return _candidates(list(compress(rows, found)), vectors)


def _candidates(rows: list[Paper], vectors: np.ndarray) -> Candidates:
    return Candidates(
        ids=[paper.pk for paper in rows],
        vectors=vectors,
        trending=np.array([_trending_score(paper) for paper in rows], dtype=np.float32),
        whys=[trending_why(paper) for paper in rows],
        categories=[{c.term for c in paper.categories.all()} for paper in rows],
        authors=[list(paper.authors) for paper in rows],
        texts=[f"{paper.title}\n{paper.abstract}" for paper in rows],
    )


def _trending_score(paper: Paper) -> float:
    return getattr(getattr(paper, "trending", None), "score", 0.0) or 0.0


# --- Facets: what a reader is interested in ----------------------------------------------

# Topic separators: lines, semicolons, " / " and commas outside parentheses ("fast inference
# (KV cache, serving)" stays one topic).
TOPIC_SPLIT = re.compile(r"[\n;]+|\s/\s|,(?![^()]*\))")


def topics_of(subscriber: Subscriber) -> list[str]:
    """Free-text interests split into topics: each counts on its own, so a long list does
    not drown a short one."""
    return [t.strip() for t in TOPIC_SPLIT.split(subscriber.interests) if t.strip()]


def facet_texts(subscriber: Subscriber) -> list[str]:
    """The texts whose vectors the reader's cache holds: topics, then category names."""
    return topics_of(subscriber) + [category_name(term) for term in subscriber.categories]


@dataclass
class _Facet:
    owner: int
    kind: str  # "topic", "category", "liked"
    label: str  # the topic, the category code, or the liked paper's id


def topic_vectors(subscribers: list[Subscriber], dim: int) -> list[np.ndarray]:
    """Each reader's (n, dim) vectors of `facet_texts`; cached on the reader for the current
    model, so only readers whose preferences changed cost any model work."""
    model_name = settings.DIGEST_EMBEDDING_MODEL
    texts = {s.pk: facet_texts(s) for s in subscribers}

    def cached(s: Subscriber) -> bool:
        blob = s.topic_vectors
        return (
            s.interest_model == model_name
            and blob is not None
            and len(blob) == (len(texts[s.pk]) * dim * 4)
        )

    stale = [s for s in subscribers if not cached(s)]
    wanted = [text for s in stale for text in texts[s.pk]]
    if wanted:
        vectors = iter(current_embedder().encode(wanted))
    for subscriber in stale:
        rows = [next(vectors) for _ in texts[subscriber.pk]]
        subscriber.topic_vectors = to_bytes(np.array(rows, dtype=np.float32).reshape(-1, dim))
        subscriber.interest_model = model_name
        # Compare and set: a reader who changed their interests while we embedded keeps
        # the cache empty, and the next ranking embeds what they wrote.
        Subscriber.objects.filter(
            pk=subscriber.pk, interests=subscriber.interests, categories=subscriber.categories
        ).update(topic_vectors=subscriber.topic_vectors, interest_model=model_name)
    return [
        from_bytes([s.topic_vectors], len(texts[s.pk]) * dim).reshape(-1, dim) for s in subscribers
    ]


def forget_interests(*, subscriber_id: int) -> None:
    """Preferences changed: the next ranking embeds this reader's topics again."""
    Subscriber.objects.filter(pk=subscriber_id).update(interest_model="")


def record_feedback(*, subscriber_id: int, paper_id: str, kind: str) -> PaperFeedback:
    """ "More like this" / "less like this": remembered; the next ranking reads it."""
    if kind not in PaperFeedback.Kind.values:
        raise ValueError(f"feedback must be one of {PaperFeedback.Kind.values}, not {kind!r}")
    feedback, _ = PaperFeedback.objects.update_or_create(
        subscriber_id=subscriber_id, paper_id=paper_id, defaults={"kind": kind}
    )
    return feedback


@dataclass
class _Batch:
    """The readers of one ranking pass as arrays, and what their facet rows stand for."""

    facets: list[_Facet]
    readers: Readers
    sent: list[tuple[int, int]]  # (reader row, candidate column) of papers already mailed


def _feedback(subscribers: list[Subscriber]) -> dict[int, list[tuple[str, bool]]]:
    rows = PaperFeedback.objects.filter(subscriber_id__in=[s.pk for s in subscribers]).order_by(
        "created_at", "pk"
    )
    found: dict[int, list[tuple[str, bool]]] = {s.pk: [] for s in subscribers}
    for subscriber_id, paper_id, kind in rows.values_list("subscriber_id", "paper_id", "kind"):
        found[subscriber_id].append((paper_id, kind == PaperFeedback.Kind.LIKE))
    return found


def _cells(pairs: list[tuple[int, int]], width: int, values: list[float] | None = None) -> Cells:
    rows = torch.tensor([r for r, _ in pairs], dtype=torch.int64)
    cols = torch.tensor([c for _, c in pairs], dtype=torch.int64)
    weights = None if values is None else torch.tensor(values, dtype=torch.float32)
    return Cells.build(rows=rows, cols=cols, width=width, values=weights)


def _batch(subscribers: list[Subscriber], candidates: Candidates) -> _Batch:
    dim = candidates.vectors.shape[1]
    width = len(candidates.ids)
    index = paper_index()
    feedback = _feedback(subscribers)
    sent = _already_sent(subscribers, candidates)
    facets: list[_Facet] = []
    vectors: list[np.ndarray] = []
    negatives: list[np.ndarray] = []
    negative_owner: list[int] = []
    for row, (subscriber, cached) in enumerate(
        zip(subscribers, topic_vectors(subscribers, dim), strict=True)
    ):
        labels = topics_of(subscriber)
        facets += [_Facet(row, "topic", label) for label in labels]
        facets += [_Facet(row, "category", term) for term in subscriber.categories]
        vectors += list(cached)
        for paper_id, liked in feedback[subscriber.pk]:
            vector = index.vector(paper_id)
            if vector is None:
                continue
            if liked:
                facets.append(_Facet(row, "liked", paper_id))
                vectors.append(vector)
            else:
                negatives.append(vector)
                negative_owner.append(row)
    readers = Readers(
        facets=_matrix(vectors, dim),
        facet_owner=torch.tensor([f.owner for f in facets], dtype=torch.int64),
        facet_group=_interest_groups(facets, vectors),
        facet_offset=torch.tensor(
            [-settings.RANK_LIKED_OFFSET if f.kind == "liked" else 0.0 for f in facets]
        ),
        facet_bonus=_facet_bonus(facets, candidates),
        negatives=_matrix(negatives, dim),
        negative_owner=torch.tensor(negative_owner, dtype=torch.int64),
        taste=_tastes(subscribers, feedback, candidates),
        trending_weight=torch.tensor([_dial(s) for s in subscribers], dtype=torch.float32),
        followed=_cells(_followed_pairs(subscribers, candidates), width),
        restricted=torch.tensor([s.categories_only for s in subscribers], dtype=torch.bool),
        allowed=_cells(_restricted_pairs(subscribers, candidates), width),
        exclude=_cells(sent + _judged(feedback, subscribers, candidates), width),
    )
    return _Batch(facets=facets, readers=readers, sent=sent)


def _interest_groups(facets: list[_Facet], vectors: list[np.ndarray]) -> torch.Tensor:
    """Each facet's interest: topics and categories are their own; a liked paper belongs to
    the reader's topic or category it is closest to, if it is close to one at all, so that
    liking papers on one interest does not crowd the digest with it."""
    groups = list(range(len(facets)))
    stated: dict[int, list[int]] = {}
    for row, facet in enumerate(facets):
        if facet.kind != "liked":
            stated.setdefault(facet.owner, []).append(row)
    for row, facet in enumerate(facets):
        rows = stated.get(facet.owner)
        if facet.kind == "liked" and rows:
            similarity = np.stack([vectors[r] for r in rows]) @ vectors[row]
            if similarity.max() >= settings.RANK_RELEVANCE_THRESHOLD / 2:
                groups[row] = rows[int(similarity.argmax())]
    return torch.tensor(groups, dtype=torch.int64)


def _matrix(vectors: list[np.ndarray], dim: int) -> torch.Tensor:
    return torch.from_numpy(np.stack(vectors)) if vectors else torch.zeros((0, dim))


def _dial(subscriber: Subscriber) -> float:
    weight = subscriber.trending_weight
    return settings.RANK_TRENDING_WEIGHT if weight is None else weight


def _facet_bonus(facets: list[_Facet], candidates: Candidates) -> Cells:
    """What a facet adds to its cosine: a topic's lexical score (its exact words in title and
    abstract), a category's boost for the papers listed in it."""
    pairs, values = [], []
    topic_rows = [row for row, facet in enumerate(facets) if facet.kind == "topic"]
    if topic_rows:
        scores = candidates.lexical.scores([facets[row].label for row in topic_rows]).tocoo()
        pairs += [(topic_rows[r], c) for r, c in zip(scores.row, scores.col, strict=True)]
        values += list(settings.RANK_LEXICAL_WEIGHT * scores.data)
    for row, facet in enumerate(facets):
        if facet.kind == "category":
            cols = [c for c, terms in enumerate(candidates.categories) if facet.label in terms]
            pairs += [(row, c) for c in cols]
            values += [settings.RANK_CATEGORY_BOOST] * len(cols)
    return _cells(pairs, len(candidates.ids), values)


def _followed_pairs(subscribers: list[Subscriber], candidates: Candidates) -> list[tuple]:
    by_author: dict[str, list[int]] = {}
    for col, names in enumerate(candidates.authors):
        for name in names:
            by_author.setdefault(author_key(name), []).append(col)
    return [
        (row, col)
        for row, subscriber in enumerate(subscribers)
        for key in {author_key(name) for name in subscriber.followed_authors}
        for col in by_author.get(key, ())
    ]


def _restricted_pairs(subscribers: list[Subscriber], candidates: Candidates) -> list[tuple]:
    """(reader, paper) for the papers in the categories of readers who want only those."""
    return [
        (row, col)
        for row, subscriber in enumerate(subscribers)
        if subscriber.categories_only
        for col, terms in enumerate(candidates.categories)
        if terms & set(subscriber.categories)
    ]


def _tastes(
    subscribers: list[Subscriber],
    feedback: dict[int, list[tuple[str, bool]]],
    candidates: Candidates,
) -> torch.Tensor | None:
    """(S, D + 1) classifiers, fitted for the readers with enough feedback of both kinds and
    zero (no effect) for the others; None when nobody has enough."""
    index = paper_index()
    examples, liked, owners, fitted = [], [], [], []
    for row, subscriber in enumerate(subscribers):
        known = [(index.vector(pk), like) for pk, like in feedback[subscriber.pk]]
        known = [(vector, like) for vector, like in known if vector is not None]
        likes = sum(like for _, like in known)
        if len(known) < settings.RANK_TASTE_MIN_FEEDBACK or not likes or likes == len(known):
            continue
        for vector, like in known:
            examples.append(vector)
            liked.append(like)
            owners.append(len(fitted))
        fitted.append(row)
    if not fitted:
        return None
    generator = np.random.default_rng(0)
    sample = generator.choice(
        len(candidates.ids),
        size=min(settings.RANK_TASTE_BACKGROUND, len(candidates.ids)),
        replace=False,
    )
    weights = fit_tastes(
        examples=torch.from_numpy(np.stack(examples)),
        liked=torch.tensor(liked),
        owners=torch.tensor(owners, dtype=torch.int64),
        background=torch.from_numpy(candidates.vectors[sample]),
        readers=len(fitted),
        device=resolve_device(settings.DIGEST_DEVICE),
    )
    tastes = torch.zeros((len(subscribers), weights.shape[1]))
    tastes[fitted] = weights
    return tastes


def _judged(
    feedback: dict[int, list[tuple[str, bool]]],
    subscribers: list[Subscriber],
    candidates: Candidates,
) -> list[tuple[int, int]]:
    """(reader, paper) for the candidates a reader already liked or disliked: not news."""
    return [
        (row, candidates.columns[paper_id])
        for row, subscriber in enumerate(subscribers)
        for paper_id, _ in feedback[subscriber.pk]
        if paper_id in candidates.columns
    ]


def _already_sent(subscribers: list[Subscriber], candidates: Candidates) -> list[tuple]:
    rows = {subscriber.pk: row for row, subscriber in enumerate(subscribers)}
    # Papers of digests that went out, may have (ambiguous) or are about to; a failed digest
    # never reached the reader, so its papers may still come.
    sent = (
        DeliveryItem.objects.filter(
            delivery__subscriber_id__in=list(rows), paper_id__in=candidates.ids
        )
        .exclude(delivery__state=Delivery.State.FAILED)
        .values_list("delivery__subscriber_id", "paper_id")
    )
    return [(rows[sid], candidates.columns[pid]) for sid, pid in sent]


# --- Why each paper was chosen -----------------------------------------------------------


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TITLE_IN_WHY else text[: TITLE_IN_WHY - 1].rstrip() + "…"


def _personal_reason(facet: _Facet | None, author: str | None, titles: dict[str, str]) -> str:
    if author:
        return f"By {author}, whom you follow"
    if facet is None:
        return "Close to what you asked for"
    if facet.kind == "topic":
        return f"Matches your interest '{facet.label}'"
    if facet.kind == "category":
        return f"In {facet.label}, which you follow"
    return f"Like '{_short(titles.get(facet.label, facet.label))}', which you liked"


def _followed_author(followed: set[str], names: list[str]) -> str | None:
    """The first of `names` whose key is among the reader's followed authors' keys."""
    if not followed:  # most readers: no key computed for every author of every pick
        return None
    return next((name for name in names if author_key(name) in followed), None)


def _with_signals(reason: str, signals: str) -> str:
    return f"{reason} · {signals}" if signals else reason


# --- Ranking -----------------------------------------------------------------------------


def _weights() -> Weights:
    return Weights(
        threshold=settings.RANK_RELEVANCE_THRESHOLD,
        dislike_weight=settings.RANK_DISLIKE_WEIGHT,
        dislike_floor=settings.RANK_DISLIKE_FLOOR,
        taste_weight=settings.RANK_TASTE_WEIGHT,
        mmr_lambda=settings.RANK_MMR_LAMBDA,
        facet_share=settings.RANK_FACET_SHARE,
        expansion=settings.RANK_EXPANSION,
    )


def _trending_order(candidates: Candidates) -> list[int]:
    """Columns of the papers with any trending signal, most talked-about first."""
    order = np.argsort(-candidates.trending, kind="stable")
    return [int(col) for col in order if candidates.trending[col] > 0]


def pick_papers(
    *,
    subscriber_ids: list[int],
    day: date,
    k: int | None = None,
    candidates: Candidates | None = None,
) -> dict[int, list[Pick]]:
    """Each reader's digest for `day`: "For you" (papers above the relevance threshold, best
    first, up to their size; diversified among themselves) then "Trending today" (the day's
    most talked-about papers not already above, as many as the reader chose), then the
    follow-ups on papers they received before ("Code is now out", "Taking off"). Nothing
    already sent but follow-ups, nothing hidden; an empty list when nothing matches the
    reader's interests, unless they asked for the trending section anyway (follow-ups wait
    for a digest that goes out). Ranked in batched matrix operations; a caller ranking many
    batches for one day passes the day's `candidate_papers` once."""
    subscribers = list(Subscriber.objects.filter(pk__in=subscriber_ids).order_by("pk"))
    if candidates is None:
        candidates = candidate_papers(day=day)
    if not subscribers or not candidates.ids:
        return {subscriber.pk: [] for subscriber in subscribers}
    sizes = [k or subscriber.digest_size for subscriber in subscribers]
    batch = _batch(subscribers, candidates)
    result = rank_for_readers(
        readers=batch.readers,
        candidates=torch.from_numpy(candidates.vectors),
        trending=torch.from_numpy(candidates.trending),
        k=max(sizes),
        weights=_weights(),
        chunk_size=settings.RANK_CHUNK_SIZE,
        device=resolve_device(settings.DIGEST_DEVICE),
    )
    titles = _liked_titles(batch.facets)
    trending_order = _trending_order(candidates)
    sent = {}
    for row, col in batch.sent:
        sent.setdefault(row, set()).add(col)
    # Plain lists once: reading tensor cells one by one costs more than the ranking itself.
    columns, scores = result.indices.tolist(), result.scores.tolist()
    relevance, trend = result.relevance.tolist(), result.trending.tolist()
    facets = result.facet.tolist()
    picks = {}
    for row, subscriber in enumerate(subscribers):
        followed = {author_key(name) for name in subscriber.followed_authors}
        mine = []
        for rank, col in enumerate(columns[row][: sizes[row]]):
            if col < 0:
                break
            facet = batch.facets[facets[row][rank]] if facets[row][rank] >= 0 else None
            author = _followed_author(followed, candidates.authors[col])
            reason = _personal_reason(facet, author, titles)
            mine.append(
                Pick(
                    paper_id=candidates.ids[col],
                    score=scores[row][rank],
                    relevance=relevance[row][rank],
                    trending=trend[row][rank],
                    why=_with_signals(reason, candidates.whys[col]),
                )
            )
        if not mine and not subscriber.send_when_empty:
            picks[subscriber.pk] = []
            continue
        taken = {candidates.columns[pick.paper_id] for pick in mine} | sent.get(row, set())
        popular = [col for col in trending_order if col not in taken][: subscriber.trending_count]
        picks[subscriber.pk] = mine + [
            Pick(
                paper_id=candidates.ids[col],
                score=float(candidates.trending[col]),
                relevance=0.0,
                trending=float(candidates.trending[col]),
                why=candidates.whys[col] or "Among the most talked-about papers of the day",
                section=TRENDING,
            )
            for col in popular
        ]
    _add_follow_ups(picks, subscribers)
    return picks


def _add_follow_ups(picks: dict[int, list[Pick]], subscribers: list[Subscriber]) -> None:
    """Follow-ups after the day's sections of the digests that go out."""
    going = [subscriber for subscriber in subscribers if picks[subscriber.pk]]
    for subscriber_id, items in follow_ups(subscribers=going).items():
        taken = {pick.paper_id for pick in picks[subscriber_id]}
        picks[subscriber_id] += [
            Pick(
                paper_id=item.paper_id,
                score=0.0,
                relevance=0.0,
                trending=0.0,
                why=item.why,
                section=item.section,
            )
            for item in items
            if item.paper_id not in taken
        ]


def _liked_titles(facets: list[_Facet]) -> dict[str, str]:
    liked = [facet.label for facet in facets if facet.kind == "liked"]
    return dict(Paper.objects.filter(pk__in=liked).values_list("pk", "title"))
