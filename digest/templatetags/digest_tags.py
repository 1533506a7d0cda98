"""Template helpers for paper cards; they read prefetched relations, so no extra queries."""

from django import template
from django.utils import timezone

from digest.models import CodeLink, Paper, TrendingSignal
from digest.services.papers import latest_signal, primary_code_link

register = template.Library()


@register.filter
def code_link(paper: Paper) -> CodeLink | None:
    return primary_code_link(paper)


@register.filter
def signal(paper: Paper) -> TrendingSignal | None:
    return latest_signal(paper)


@register.filter
def age(paper: Paper) -> str:
    days = (timezone.now() - paper.published).days
    if days <= 0:
        return "today"
    return "1 day old" if days == 1 else f"{days} days old"


@register.filter
def short_authors(authors: list[str], limit: int = 4) -> str:
    if len(authors) <= limit:
        return ", ".join(authors)
    return ", ".join(authors[:limit]) + f" et al. ({len(authors)} authors)"
