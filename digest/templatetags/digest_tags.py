"""Template helpers for paper cards; they read prefetched relations, so no extra queries."""

from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from digest.mathml import to_mathml
from digest.models import CodeLink, Paper, TrendingSignal
from digest.services.papers import (
    latest_signal,
    primary_code_link,
    stars_this_week,
    summary_source,
)
from digest.services.ranking.trending_formula import PART_LABELS
from digest.text import math_as_text, math_segments, unicode_text

register = template.Library()


@register.filter
def code_link(paper: Paper) -> CodeLink | None:
    return primary_code_link(paper)


@register.filter
def signal(paper: Paper) -> TrendingSignal | None:
    return latest_signal(paper)


@register.filter(name="stars_this_week")
def stars_gained(link: CodeLink) -> int:
    return stars_this_week(link)


@register.filter
def score_parts(paper: Paper) -> list[tuple[str, int]]:
    """The parts of a paper's trending score as (label, whole percent), largest first; the
    parts add up to the score, so the shares say what put the paper where it is."""
    parts = getattr(getattr(paper, "trending", None), "parts", None) or {}
    total = sum(parts.values())
    if total <= 0:
        return []
    shares = [(PART_LABELS.get(name, name), round(100 * v / total)) for name, v in parts.items()]
    return sorted((share for share in shares if share[1] > 0), key=lambda s: -s[1])


@register.filter
def summary(paper: Paper) -> str:
    return summary_source(paper)


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


@register.filter
def with_math(stored: str) -> SafeString:
    """A stored title or abstract for a page: prose escaped, each formula as MathML (made
    only from parsed, allow-listed markup; see digest.mathml)."""
    # Safe: every piece is escaped prose or MathML rebuilt from allow-listed elements.
    return mark_safe(
        "".join(
            to_mathml(segment.text, fallback=math_as_text(segment.text))
            if segment.math
            else escape(segment.text)
            for segment in math_segments(stored)
        )
    )


@register.filter
def unicode(stored: str) -> str:
    """A stored title or abstract as plain Unicode (math too), for feeds and attributes."""
    return unicode_text(stored)
