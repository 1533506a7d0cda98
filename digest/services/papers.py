"""Read-side queries over papers, shared by pages, API, feeds and emails.

Everything here starts from `visible_papers()`: a hidden paper is never shown, searched,
fed or mailed.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from digest.models import CodeLink, Paper, StarSnapshot, TrendingSignal
from digest.text import first_sentence

# "+N stars this week" and the trending score's star velocity are measured over this.
STAR_WEEK = timedelta(days=7)

# A version after an arXiv id (2512.13689v2, hep-th/9901001v1): papers are stored without
# it, as arXiv's unversioned address names the latest version.
_VERSION = re.compile(r"(?<=\d)v[1-9]\d*$")


def unversioned_id(arxiv_id: str) -> str:
    """'2512.13689v2' -> '2512.13689'; an id without a version as it is."""
    return _VERSION.sub("", arxiv_id)


def visible_papers() -> QuerySet[Paper]:
    return Paper.objects.filter(hidden=False)


def with_star_baseline(links: QuerySet[CodeLink], *, now: datetime) -> QuerySet[CodeLink]:
    """Code links with the reading their growth is measured from (`base_stars`, `base_at`):
    our last snapshot a week old or older, else our first one (None: never read)."""
    snapshots = StarSnapshot.objects.filter(code_link=OuterRef("pk"))
    week_old = snapshots.filter(taken_at__lte=now - STAR_WEEK).order_by("-taken_at")
    first = snapshots.order_by("taken_at")
    return links.annotate(
        base_stars=Coalesce(
            Subquery(week_old.values("stars")[:1]), Subquery(first.values("stars")[:1])
        ),
        base_at=Coalesce(
            Subquery(week_old.values("taken_at")[:1]), Subquery(first.values("taken_at")[:1])
        ),
    )


def with_cards(papers: QuerySet[Paper]) -> QuerySet[Paper]:
    """What a paper card shows, loaded in a constant number of queries."""
    links = with_star_baseline(CodeLink.objects.order_by("id"), now=timezone.now())
    return papers.select_related("trending").prefetch_related(
        "categories",
        Prefetch("code_links", queryset=links),
        Prefetch("signals", queryset=TrendingSignal.objects.order_by("-featured_on")),
    )


def stars_this_week(link: CodeLink) -> int:
    """Stars gained since the link's baseline (`with_star_baseline`); 0 when unknown."""
    base = getattr(link, "base_stars", None)
    return max(0, link.stars - base) if base is not None and link.stars is not None else 0


def summary_source(paper: Paper) -> str:
    """One line on what the paper does, as stored (math still LaTeX): Hugging Face's summary,
    else the abstract's first sentence."""
    return paper.ai_summary or first_sentence(paper.abstract)


def star_history(link: CodeLink) -> list[tuple[datetime, int]]:
    """Our star readings of a repository, oldest first."""
    return list(link.snapshots.order_by("taken_at").values_list("taken_at", "stars"))


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


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """When `day` starts and the next one starts, in the site's time zone: a range on
    `published` uses its index, where `published__date` computes a date for every row."""
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def on_day(papers: QuerySet[Paper], day: date) -> QuerySet[Paper]:
    """A day's papers: published that day, featured on Hugging Face that day, or pinned to it."""
    return on_days(papers, first=day, last=day)


def on_days(papers: QuerySet[Paper], *, first: date, last: date) -> QuerySet[Paper]:
    """The papers of the days from `first` to `last`, as `on_day`. Each part through its own
    index (no join, so no DISTINCT over every row)."""
    start, end = day_bounds(first)[0], day_bounds(last)[1]
    signalled = TrendingSignal.objects.filter(featured_on__range=(first, last))
    signalled = signalled.values_list("paper_id", flat=True).distinct()
    return papers.filter(
        Q(published__gte=start, published__lt=end)
        | Q(pk__in=list(signalled))
        | Q(featured_on__range=(first, last))
    )


@dataclass(frozen=True)
class Window:
    """The days a "trending" tab covers; `widened` when its span held too few papers."""

    first: date
    last: date
    widened: bool


def trending_window(*, days: int, min_papers: int, newest: date | None) -> Window | None:
    """The `days` up to `newest` (the newest day with papers, `latest_day()`), reaching back
    further, to the day of the `min_papers`-th newest paper, when they hold fewer: a tab is
    never a thin page while papers exist. None when there is no visible paper."""
    if newest is None:
        return None
    first = newest - timedelta(days=days - 1)
    if on_days(visible_papers(), first=first, last=newest).count() >= min_papers:
        return Window(first=first, last=newest, widened=False)
    published = visible_papers().order_by("-published").values_list("published", flat=True)
    reach = list(published[:min_papers])[-1]
    return Window(first=min(first, timezone.localdate(reach)), last=newest, widened=True)


def _days_since(since: date) -> set[date]:
    start, _ = day_bounds(since)
    recent = visible_papers().filter(published__gte=start)
    published = recent.annotate(day=TruncDate("published")).values_list("day", flat=True)
    # Leaving the few hidden papers out (their own index) rather than joining the visible ones.
    hidden = Paper.objects.filter(hidden=True).values("pk")
    featured = TrendingSignal.objects.filter(featured_on__gte=since).exclude(paper__in=hidden)
    # A pin to a day still to come waits for it: it must not become the newest day now.
    pinned = visible_papers().filter(featured_on__range=(since, timezone.localdate()))
    pinned = pinned.values_list("featured_on", flat=True)
    days = set(published.order_by().distinct()) | set(pinned.order_by().distinct())
    return days | set(featured.values_list("featured_on", flat=True).order_by().distinct())


def featured_on(papers: QuerySet[Paper], day: date) -> QuerySet[Paper]:
    """Papers featured that day on Hugging Face Daily Papers or pinned to it by an editor."""
    return papers.filter(Q(signals__featured_on=day) | Q(featured_on=day)).distinct()


def days_with_papers(*, limit: int = 60) -> list[date]:
    """Days that have any visible paper, newest first (arXiv announces nothing on weekends).
    Read over a window back from the newest paper (an index range, not every paper ever),
    widened only while it holds fewer than `limit` days and older papers exist."""
    newest = visible_papers().order_by("-published").values_list("published", flat=True).first()
    if newest is None:
        return []
    span = timedelta(days=2 * limit)  # arXiv announces on 5 days a week
    while True:
        since = timezone.localdate(newest - span)
        days = _days_since(since)
        older = visible_papers().filter(published__lt=day_bounds(since)[0])
        if len(days) >= limit or not older.exists():
            return sorted(days, reverse=True)[:limit]
        span *= 4


def latest_day() -> date | None:
    days = days_with_papers(limit=1)
    return days[0] if days else None
