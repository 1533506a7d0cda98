"""Public pages: trending papers by day, a paper, search. Server-rendered, no JavaScript."""

from datetime import date

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from digest.models import Category, Paper
from digest.services.papers import (
    days_with_papers,
    unversioned_id,
    visible_papers,
    with_cards,
)
from digest.services.rate_limits import client_ip, hit, parse_rate
from digest.services.search import related_papers, search_papers
from digest.services.trending import trending_papers

PAGE_SIZE = 25


def _filters(request: HttpRequest) -> dict:
    category = request.GET.get("category") or None
    if category and not Category.objects.filter(term=category).exists():
        category = None
    has_code = {"1": True, "0": False}.get(request.GET.get("has_code", ""))
    return {"category": category, "has_code": has_code}


def _day(request: HttpRequest, days: list[date]) -> date | None:
    raw = request.GET.get("day")
    if not raw:
        return days[0] if days else None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise Http404("day must be YYYY-MM-DD") from exc


def _code_status(request: HttpRequest) -> str | None:
    """The code-status filter of the trending page, as the API's `code_status`."""
    value = request.GET.get("code_status", "")
    return value if value in Paper.CodeStatus.values else None


def trending(request: HttpRequest) -> HttpResponse:
    days = days_with_papers()
    day = _day(request, days)
    filters = {**_filters(request), "code_status": _code_status(request)}
    papers = trending_papers(day=day, **filters) if day else visible_papers().none()
    page = Paginator(papers, PAGE_SIZE).get_page(request.GET.get("page"))
    older = [d for d in days if day and d < day]
    newer = [d for d in days if day and d > day]
    context = {
        "page": page,
        "day": day,
        "days": days[:14],
        "older_day": older[0] if older else None,
        "newer_day": newer[-1] if newer else None,
        "categories": Category.objects.filter(papers__hidden=False).distinct()[:200],
        "code_statuses": Paper.CodeStatus.choices,
        **filters,
    }
    return render(request, "digest/trending.html", context)


def paper_detail(request: HttpRequest, arxiv_id: str) -> HttpResponse:
    if (unversioned := unversioned_id(arxiv_id)) != arxiv_id:
        # One address per paper (links shared with a version still arrive).
        return redirect("paper-detail", arxiv_id=unversioned, permanent=True)
    paper = get_object_or_404(with_cards(visible_papers()), pk=arxiv_id)
    related = related_papers(paper=paper, limit=5)
    return render(request, "digest/paper_detail.html", {"paper": paper, "related": related})


def _date_param(request: HttpRequest, name: str) -> date | None:
    try:
        return date.fromisoformat(request.GET[name]) if request.GET.get(name) else None
    except ValueError:
        return None


def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    filters = _filters(request)
    context = {"query": query, "hits": [], "papers": [], **filters}
    retry_after = None
    if query:
        # Each search embeds the query with the model: counted per client, as the API's `q`.
        limit, window = parse_rate(settings.SEARCH_RATE)
        retry_after = hit(key=f"search:{client_ip(request)}", limit=limit, window=window)
    if query and retry_after is None:
        context["hits"] = search_papers(
            query=query,
            published_after=_date_param(request, "from"),
            published_before=_date_param(request, "to"),
            **filters,
        )
        context["papers"] = [hit.paper for hit in context["hits"]]
    context["limited"] = retry_after is not None
    response = render(request, "digest/search.html", context, status=429 if retry_after else 200)
    if retry_after is not None:
        response["Retry-After"] = str(int(retry_after) + 1)
    return response
