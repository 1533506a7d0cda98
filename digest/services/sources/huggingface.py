"""Hugging Face Daily Papers JSON to HFRecords. Pure: bytes in, plain records out, no ORM.

Parsed from the raw JSON on purpose: client libraries drop `githubRepo` and `githubStars`.
"""

import json
from datetime import date, datetime

from digest.services.sources.arxiv_feed import abs_url, clean_text, pdf_url, split_arxiv_id
from digest.services.sources.records import (
    MAX_LENGTHS,
    HFRecord,
    PaperRecord,
    ParsedPage,
    SourceError,
)

SOURCE = "huggingface"


def _load(content: bytes) -> object:
    text = content.decode("utf-8", errors="replace").lstrip("\ufeff")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        head = " ".join(text[:40].split())
        if head.startswith("<"):
            raise SourceError(SOURCE, f"expected JSON, got HTML or XML ({head!r}…)") from exc
        raise SourceError(
            SOURCE, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc


def _timestamp(value: object, field: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{field} is missing")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _count(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _web_address(value: object) -> str | None:
    """An http(s) address that fits the column, else None: a page link must not be
    javascript: or data:, and a bad page is no reason to lose the paper."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    fits = len(value) <= MAX_LENGTHS["abs_url"]
    return value if fits and value.lower().startswith(("https://", "http://")) else None


def _record(item: object, *, day: date | None) -> HFRecord:
    if not isinstance(item, dict) or not isinstance(item.get("paper"), dict):
        raise ValueError("an item has no 'paper' object")
    paper = item["paper"]
    arxiv_id, _version = split_arxiv_id(str(paper.get("id", "")))
    title = clean_text(paper.get("title") or item.get("title"))
    if not title:
        raise ValueError(f"{arxiv_id} has no title")
    published = _timestamp(paper.get("publishedAt"), "publishedAt")
    featured = paper.get("submittedOnDailyAt") or item.get("publishedAt")
    authors = [a.get("name", "") for a in paper.get("authors") or [] if isinstance(a, dict)]
    stars = paper.get("githubStars")
    return HFRecord(
        paper=PaperRecord(
            arxiv_id=arxiv_id,
            version=1,
            title=title,
            abstract=clean_text(paper.get("summary")),
            authors=tuple(name for name in map(clean_text, authors) if name),
            primary_category="",
            categories=(),
            published=published,
            updated=published,
            abs_url=abs_url(arxiv_id),
            pdf_url=pdf_url(arxiv_id),
            metadata_source="hf",
        ),
        featured_on=day or _timestamp(featured, "submittedOnDailyAt").date(),
        upvotes=_count(paper.get("upvotes")),
        num_comments=_count(item.get("numComments")),
        github_repo=paper.get("githubRepo") or None,
        github_stars=stars if isinstance(stars, int) and stars >= 0 else None,
        ai_summary=clean_text(paper.get("ai_summary")),
        project_page=_web_address(paper.get("projectPage")),
    )


def parse_daily_papers(content: bytes, *, day: date | None = None) -> ParsedPage:
    """`GET /api/daily_papers?date=...`: a JSON list of items, each with a `paper` object."""
    data = _load(content)
    if not isinstance(data, list):
        raise SourceError(
            SOURCE, f"expected a JSON list of daily papers, got a {type(data).__name__}"
        )
    records, problems = [], []
    for position, item in enumerate(data):
        try:
            records.append(_record(item, day=day))
        except (ValueError, TypeError, AttributeError) as exc:
            problems.append(f"item {position}: {exc}")
    if data and not records:
        raise SourceError(SOURCE, f"no usable daily paper ({problems[0]})")
    return ParsedPage(source=SOURCE, records=records, problem="; ".join(problems) or None)
