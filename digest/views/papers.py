"""Public pages: trending now (today, this week, this month), the day archive, a paper,
search. Server-rendered, no JavaScript."""

from datetime import date

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from digest.api.filters import PaperFilter, boolean
from digest.charts import star_history_svg
from digest.models import Category, Paper
from digest.services.papers import (
    days_with_papers,
    primary_code_link,
    star_history,
    trending_window,
    unversioned_id,
    visible_papers,
    with_cards,
)
from digest.services.rate_limits import client_ip, hit, parse_rate
from digest.services.search import related_papers, search_papers
from digest.services.trending import trending_papers

PAGE_SIZE = 25


# The home page's tabs, as Hugging Face Papers has them: name -> (label, days covered).
WINDOWS = {"today": ("Today", 1), "week": ("This week", 7), "month": ("This month", 30)}
# The FilterSet's fields the pages offer, by the pages' parameter names (the rest is the API's).
PAGE_FILTERS = {"category": "category", "has_code": "has_code", "code_status": "code_status"}
SEARCH_FILTERS = {**PAGE_FILTERS, "from": "published_after", "to": "published_before"}


def _filters(
    request: HttpRequest, papers: QuerySet | None = None, *, offered: dict = PAGE_FILTERS
) -> PaperFilter:
    """The filters a page offers, read by the API's FilterSet (a value that does not parse is
    left out, as a page has no 400 to give)."""
    data = {name: request.GET[param] for param, name in offered.items() if param in request.GET}
    return PaperFilter(data=data, queryset=papers)


def _filter_values(filters: PaperFilter) -> dict:
    data = filters.form.cleaned_data if filters.is_valid() else {}
    return {
        "category": data.get("category") or None,
        "has_code": boolean(data.get("has_code")),
        "code_status": data.get("code_status") or None,
    }


def _day(request: HttpRequest) -> date:
    try:
        return date.fromisoformat(request.GET["day"])
    except ValueError as exc:
        raise Http404("day must be YYYY-MM-DD") from exc


def _page_context(request: HttpRequest, papers: QuerySet) -> dict:
    filters = _filters(request, papers)
    page = Paginator(filters.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    categories = Category.objects.filter(papers__hidden=False).distinct()[:200]
    return {
        "page": page,
        "categories": categories,
        "code_statuses": Paper.CodeStatus.choices,
        **_filter_values(filters),
    }


def trending(request: HttpRequest) -> HttpResponse:
    """Trending now over a tab's window (never a thin page), or one day of the archive."""
    days = days_with_papers()
    if request.GET.get("day"):
        return _archive_day(request, _day(request), days)
    tab = request.GET.get("window") if request.GET.get("window") in WINDOWS else "today"
    newest = days[0] if days else None
    window = trending_window(days=WINDOWS[tab][1], min_papers=PAGE_SIZE, newest=newest)
    papers = trending_papers(window=window) if window else visible_papers().none()
    context = {
        **_page_context(request, papers),
        "tab": tab,
        "tabs": [(name, label) for name, (label, _) in WINDOWS.items()],
        "window": window,
        "days": days[:14],
    }
    return render(request, "digest/trending.html", context)


def _archive_day(request: HttpRequest, day: date, days: list[date]) -> HttpResponse:
    older = [d for d in days if d < day]
    newer = [d for d in days if d > day]
    context = {
        **_page_context(request, trending_papers(day=day)),
        "day": day,
        "days": days[:14],
        "older_day": older[0] if older else None,
        "newer_day": newer[-1] if newer else None,
    }
    return render(request, "digest/trending.html", context)


def paper_detail(request: HttpRequest, arxiv_id: str) -> HttpResponse:
    if (unversioned := unversioned_id(arxiv_id)) != arxiv_id:
        # One address per paper (links shared with a version still arrive).
        return redirect("paper-detail", arxiv_id=unversioned, permanent=True)
    paper = get_object_or_404(with_cards(visible_papers()), pk=arxiv_id)
    related = related_papers(paper=paper, limit=5)
    link = primary_code_link(paper)
    chart = star_history_svg(star_history(link)) if link else ""
    context = {"paper": paper, "related": related, "star_chart": chart}
    return render(request, "digest/paper_detail.html", context)


def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    filters = _filters(request, visible_papers(), offered=SEARCH_FILTERS)
    context = {"query": query, "hits": [], "papers": [], **_filter_values(filters)}
    retry_after = None
    if query:
        # Each search embeds the query with the model: counted per client, as the API's `q`.
        limit, window = parse_rate(settings.SEARCH_RATE)
        retry_after = hit(key=f"search:{client_ip(request)}", limit=limit, window=window)
    if query and retry_after is None:
        among = filters.qs if filters.narrows() else None
        context["hits"] = search_papers(query=query, among=among)
        context["papers"] = [hit.paper for hit in context["hits"]]
    context["limited"] = retry_after is not None
    response = render(request, "digest/search.html", context, status=429 if retry_after else 200)
    if retry_after is not None:
        response["Retry-After"] = str(int(retry_after) + 1)
    return response
