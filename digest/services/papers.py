"""Read-side queries over papers, shared by pages, API, feeds and emails.

Everything here starts from `visible_papers()`: a hidden paper is never shown, searched,
fed or mailed.
"""

import re
from datetime import date

from django.db.models import Prefetch, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from digest.models import CodeLink, Paper, TrendingSignal

# A version after an arXiv id (2512.13689v2, hep-th/9901001v1): papers are stored without
# it, as arXiv's unversioned address names the latest version.
_VERSION = re.compile(r"(?<=\d)v[1-9]\d*$")


def unversioned_id(arxiv_id: str) -> str:
    """'2512.13689v2' -> '2512.13689'; an id without a version as it is."""
    return _VERSION.sub("", arxiv_id)


def visible_papers() -> QuerySet[Paper]:
    return Paper.objects.filter(hidden=False)


def with_cards(papers: QuerySet[Paper]) -> QuerySet[Paper]:
    """What a paper card shows, loaded in a constant number of queries."""
    return papers.select_related("trending").prefetch_related(
        "categories",
        Prefetch("code_links", queryset=CodeLink.objects.order_by("id")),
        Prefetch("signals", queryset=TrendingSignal.objects.order_by("-featured_on")),
    )


def primary_code_link(paper: Paper) -> CodeLink | None:
    """The link we show: admin beats Hugging Face beats abstract beats comment.
    Works on prefetched `code_links` without another query."""
    links = list(paper.code_links.all())
    return min(links, key=lambda link: (CodeLink.PRIORITY[link.source], link.id), default=None)


def latest_signal(paper: Paper) -> TrendingSignal | None:
    return next(iter(paper.signals.all()), None)


def trending_why(paper: Paper) -> str:
    """The why-line of a paper's trending score ("38 upvotes on Hugging Face, ..."); empty
    for a paper not scored yet."""
    return getattr(getattr(paper, "trending", None), "why", "") or ""


def on_day(papers: QuerySet[Paper], day: date) -> QuerySet[Paper]:
    """A day's papers: published that day, featured on Hugging Face that day, or pinned to it."""
    return papers.filter(
        Q(published__date=day) | Q(signals__featured_on=day) | Q(featured_on=day)
    ).distinct()


def featured_on(papers: QuerySet[Paper], day: date) -> QuerySet[Paper]:
    """Papers featured that day on Hugging Face Daily Papers or pinned to it by an editor."""
    return papers.filter(Q(signals__featured_on=day) | Q(featured_on=day)).distinct()


def days_with_papers(*, limit: int = 60) -> list[date]:
    """Days that have any visible paper, newest first (arXiv announces nothing on weekends)."""
    published = visible_papers().annotate(day=TruncDate("published")).values_list("day", flat=True)
    featured = TrendingSignal.objects.filter(paper__hidden=False).values_list(
        "featured_on", flat=True
    )
    # A pin to a day still to come waits for it: it must not become the newest day now.
    pinned = visible_papers().filter(featured_on__lte=timezone.localdate())
    pinned = pinned.values_list("featured_on", flat=True)
    days = set(published.distinct()) | set(featured.distinct()) | set(pinned.distinct())
    return sorted(days, reverse=True)[:limit]


def latest_day() -> date | None:
    days = days_with_papers(limit=1)
    return days[0] if days else None
