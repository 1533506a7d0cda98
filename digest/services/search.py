"""Search by meaning over every visible paper, with exact title matches winning, and
"related papers" by nearest neighbours."""

from dataclasses import dataclass
from datetime import date

import numpy as np
from django.db.models import QuerySet

from digest.models import Paper
from digest.services.embedding.index import paper_index
from digest.services.embedding.papers import current_embedder
from digest.services.papers import featured_on, visible_papers, with_cards

# A title containing the whole query outranks any purely semantic match (cosine <= 1).
EXACT_TITLE_BONUS = 1.0
# Enough semantic candidates that filtering and title matches still leave `limit` results.
OVERSAMPLE = 4
MAX_QUERY_LENGTH = 500


@dataclass(frozen=True)
class SearchHit:
    paper: Paper
    score: float
    title_match: bool


def filtered_papers(
    *,
    category: str | None = None,
    has_code: bool | None = None,
    published_after: date | None = None,
    published_before: date | None = None,
    featured_day: date | None = None,
) -> QuerySet[Paper]:
    papers = visible_papers()
    if category:
        papers = papers.filter(categories__term=category)
    if has_code is not None:
        papers = papers.filter(code_links__isnull=not has_code)
    if published_after:
        papers = papers.filter(published__date__gte=published_after)
    if published_before:
        papers = papers.filter(published__date__lte=published_before)
    if featured_day:
        papers = featured_on(papers, featured_day)
    return papers.distinct()


def _semantic_scores(query: str, allowed: set[str] | None, *, k: int) -> dict[str, float]:
    index = paper_index()
    if not index.ids:
        return {}
    query_vector = current_embedder().encode([query])[0]
    scores = index.matrix @ query_vector
    if allowed is not None:
        mask = np.fromiter((pk in allowed for pk in index.ids), bool, len(index.ids))
        scores = np.where(mask, scores, -np.inf)
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    return {index.ids[i]: float(scores[i]) for i in top if np.isfinite(scores[i])}


def search_papers(
    *,
    query: str,
    category: str | None = None,
    has_code: bool | None = None,
    published_after: date | None = None,
    published_before: date | None = None,
    featured_day: date | None = None,
    limit: int = 50,
) -> list[SearchHit]:
    query = " ".join(query.split())[:MAX_QUERY_LENGTH]
    if not query:
        return []
    papers = filtered_papers(
        category=category,
        has_code=has_code,
        published_after=published_after,
        published_before=published_before,
        featured_day=featured_day,
    )
    filters = (category, has_code, published_after, published_before, featured_day)
    has_filters = any(value is not None for value in filters)
    allowed = set(papers.values_list("pk", flat=True)) if has_filters else None
    scores = _semantic_scores(query, allowed, k=OVERSAMPLE * limit)
    title_matches = set(papers.filter(title__icontains=query).values_list("pk", flat=True)[:limit])
    hidden = set(Paper.objects.filter(hidden=True).values_list("pk", flat=True))
    ranked = {
        pk: scores.get(pk, 0.0) + (EXACT_TITLE_BONUS if pk in title_matches else 0.0)
        for pk in (scores.keys() | title_matches) - hidden
    }
    best = sorted(ranked, key=lambda pk: (-ranked[pk], pk))[:limit]
    loaded = with_cards(Paper.objects.filter(pk__in=best)).in_bulk()
    return [
        SearchHit(paper=loaded[pk], score=ranked[pk], title_match=pk in title_matches)
        for pk in best
        if pk in loaded
    ]


def related_papers(*, paper: Paper, limit: int = 5) -> list[Paper]:
    index = paper_index()
    vector = index.vector(paper.pk)
    if vector is None:
        return []
    hidden = set(Paper.objects.filter(hidden=True).values_list("pk", flat=True))
    hits = index.nearest(vector, k=limit, exclude=hidden | {paper.pk})
    loaded = with_cards(Paper.objects.filter(pk__in=[pk for pk, _ in hits])).in_bulk()
    return [loaded[pk] for pk, _ in hits if pk in loaded]
