"""Trending scores: gather each recent paper's signals into arrays, score them with the pure
ranking core, store score + parts + why-line. Recomputed after every ingestion."""

from datetime import date, datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, QuerySet, Value, When
from django.utils import timezone

from digest.models import CodeLink, Paper, TrendingScore, TrendingSignal
from digest.services.content_version import content_changed
from digest.services.papers import (
    Window,
    on_day,
    on_days,
    visible_papers,
    with_cards,
    with_star_baseline,
)
from digest.services.ranking.trending_formula import TrendingWeights, explain, trending_scores

# Papers older than this keep their last score: their decay has made it negligible anyway.
WINDOW_DAYS = 30
DAY = timedelta(days=1)
# The signals a why-line names: code, stars and age are on every card already.
EXPLAINED = ("upvotes", "num_comments", "star_growth")


def _recent_paper_ids(now: datetime) -> list[str]:
    since = now - timedelta(days=WINDOW_DAYS)
    recent = Paper.objects.filter(published__gte=since).values_list("pk", flat=True)
    featured = TrendingSignal.objects.filter(featured_on__gte=since.date()).values_list(
        "paper_id", flat=True
    )
    never_scored = Paper.objects.filter(trending=None).values_list("pk", flat=True)
    return sorted(set(recent) | set(featured) | set(never_scored))


def _signals(paper_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Upvotes and comments of each paper's most recent featured day."""
    rows = TrendingSignal.objects.filter(paper_id__in=paper_ids).order_by("paper_id", "featured_on")
    return {row.paper_id: (row.upvotes, row.num_comments) for row in rows}


def _stars(paper_ids: list[str], now: datetime) -> dict[str, tuple[int, float]]:
    """Best-known stars of each paper's repositories and how many they gain a day, measured
    between our own snapshots over the last week (as Papers with Code ranked by stars an
    hour); NaN when we have read a repository only for less than a day."""
    links = with_star_baseline(
        CodeLink.objects.filter(paper_id__in=paper_ids, stars__isnull=False), now=now
    )
    stars: dict[str, tuple[int, float]] = {}
    for link in links:
        elapsed = (now - link.base_at) / DAY if link.base_at else 0.0
        growth = (link.stars - link.base_stars) / elapsed if elapsed >= 1 else float("nan")
        best = stars.get(link.paper_id)
        if best is None or link.stars > best[0]:
            stars[link.paper_id] = (link.stars, growth)
    return stars


def weights() -> TrendingWeights:
    return TrendingWeights(half_life_days=settings.TRENDING_HALF_LIFE_DAYS)


def recompute_trending(*, now: datetime | None = None) -> int:
    """Score every recent paper; returns how many scores were written."""
    now = now or timezone.now()
    paper_ids = _recent_paper_ids(now)
    if not paper_ids:
        return 0
    papers = Paper.objects.in_bulk(paper_ids)
    signals, stars = _signals(paper_ids), _stars(paper_ids, now)
    coded = set(CodeLink.objects.filter(paper_id__in=paper_ids).values_list("paper_id", flat=True))
    columns = {
        "upvotes": np.array([signals.get(pk, (0, 0))[0] for pk in paper_ids], dtype=np.float64),
        "num_comments": np.array([signals.get(pk, (0, 0))[1] for pk in paper_ids], float),
        "stars": np.array([stars.get(pk, (0, 0.0))[0] for pk in paper_ids], dtype=np.float64),
        "star_growth": np.array([stars.get(pk, (0, np.nan))[1] for pk in paper_ids], float),
        "has_code": np.array([pk in coded for pk in paper_ids], dtype=bool),
        "age_days": np.array(
            [max(0.0, (now - papers[pk].published) / DAY) for pk in paper_ids], float
        ),
    }
    result = trending_scores(**columns, weights=weights())
    rows = [
        TrendingScore(
            paper_id=pk,
            score=float(result.score[i]),
            parts={name: float(part[i]) for name, part in result.parts.items()},
            why=explain(**{name: columns[name][i] for name in EXPLAINED}),
            computed_at=now,
        )
        for i, pk in enumerate(paper_ids)
    ]
    _write(rows)
    # New scores reorder the public lists: cached API pages must not outlive them.
    content_changed()
    return len(rows)


@transaction.atomic
def _write(rows: list[TrendingScore]) -> None:
    TrendingScore.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["paper"],
        update_fields=["score", "parts", "why", "computed_at"],
    )


def trending_papers(
    *,
    day: date | None = None,
    window: Window | None = None,
    category: str | None = None,
    has_code: bool | None = None,
) -> QuerySet[Paper]:
    """Visible papers (of one day, or of a window of days, if given): the day's pinned papers
    first, then by score."""
    papers = visible_papers()
    if day is not None:
        papers = on_day(papers, day)
    if window is not None:
        papers = on_days(papers, first=window.first, last=window.last)
    if category:
        papers = papers.filter(categories__term=category)
    if has_code is not None:
        papers = papers.filter(code_links__isnull=not has_code)
    pinned = Case(When(featured_on=day, then=Value(1)), default=Value(0)) if day else Value(0)
    ordered = papers.distinct().annotate(pinned=pinned)
    return with_cards(
        ordered.order_by(
            "-pinned", F("trending__score").desc(nulls_last=True), "-published", "arxiv_id"
        )
    )
