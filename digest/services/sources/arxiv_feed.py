"""arXiv documents to PaperRecords. Pure: bytes in, plain records out, no ORM.

Two formats:
- the export API's Atom (`/api/query`), parsed by the `arxiv` package's own parser, the very
  code its `Client` runs on live responses, then turned into records by `record_from_result`,
  which live fetching uses too;
- the announcement feed (`rss.arxiv.org/atom/<cat>`), which the `arxiv` package does not read.

Every document first passes `scan_entries`: a strict, streaming parse with DTDs and entities
forbidden (no entity-expansion attacks), which finds where a damaged document breaks so that
only the complete entries before the damage are kept.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from xml.etree.ElementTree import Element, ParseError

import arxiv
from arxiv import _feed as arxiv_feed  # the parser arxiv.Client applies to every response
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from digest.services.sources.records import PaperRecord, ParsedPage, SourceError

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
DC = "{http://purl.org/dc/elements/1.1/}"

# New-style ids (2512.13690v2) and old-style ids (hep-th/9901001v1), version optional.
_ID_RE = re.compile(
    r"(?P<id>\d{4}\.\d{4,5}|[a-z][a-z.-]*(?:\.[A-Z]{2})?/\d{7})(?:v(?P<version>\d+))?$"
)
_RSS_ABSTRACT_RE = re.compile(r"^arXiv:\S+\s+Announce Type:\s*\S+\s*Abstract:\s*", re.S)


def split_arxiv_id(raw: str) -> tuple[str, int]:
    """'http://arxiv.org/abs/2512.13690v2' or 'oai:arXiv.org:2512.13690v2' -> ('2512.13690', 2)."""
    match = _ID_RE.search(raw.strip())
    if not match:
        raise ValueError(f"not an arXiv identifier: {raw!r}")
    return match["id"], int(match["version"] or 1)


def abs_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/abs/{arxiv_id}"


def pdf_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/pdf/{arxiv_id}"


def clean_text(text: str | None) -> str:
    """Collapse the line breaks and runs of spaces that Atom texts carry."""
    return " ".join((text or "").split())


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for item in items if item))


@dataclass(frozen=True)
class EntryScan:
    entries: list[Element]
    feed_id: str
    total_results: int | None
    damage: str | None  # where the document breaks, if it does

    @property
    def problem(self) -> str | None:
        if self.damage is None:
            return None
        return f"{self.damage}; kept the {len(self.entries)} complete entries before it"


def scan_entries(content: bytes, *, source: str) -> EntryScan:
    """Strictly parse an Atom document, keeping every entry that closed before any damage."""
    entries: list[Element] = []
    feed_id, total, damage = "", None, None
    try:
        for _event, elem in iterparse(BytesIO(content), events=("end",), forbid_dtd=True):
            if elem.tag == f"{ATOM}entry":
                entries.append(elem)
            elif elem.tag == f"{ATOM}id" and not feed_id and not entries:
                feed_id = (elem.text or "").strip()
            elif elem.tag == "{http://a9.com/-/spec/opensearch/1.1/}totalResults":
                total = int((elem.text or "0").strip() or 0)
    except DefusedXmlException as exc:
        raise SourceError(source, f"refused unsafe XML ({type(exc).__name__})") from exc
    except ParseError as exc:
        line, column = exc.position
        damage = f"malformed XML at line {line}, column {column}"
        if not entries:
            raise SourceError(source, damage) from exc
    return EntryScan(entries=entries, feed_id=feed_id, total_results=total, damage=damage)


def record_from_result(result: arxiv.Result) -> PaperRecord:
    """The one conversion from the `arxiv` package's Result, for live and replayed pages."""
    arxiv_id, version = split_arxiv_id(result.entry_id)
    return PaperRecord(
        arxiv_id=arxiv_id,
        version=version,
        title=clean_text(result.title),
        abstract=clean_text(result.summary),
        authors=tuple(clean_text(author.name) for author in result.authors),
        primary_category=result.primary_category or "",
        categories=_unique([result.primary_category, *result.categories]),
        published=result.published,
        updated=result.updated,
        comment=clean_text(result.comment),
        journal_ref=clean_text(result.journal_ref),
        doi=(result.doi or "").strip(),
        abs_url=abs_url(arxiv_id),
        pdf_url=pdf_url(arxiv_id),
    )


def _convert(source: str, scan: EntryScan, items: list, convert) -> ParsedPage:
    records, problems = [], [scan.problem] if scan.problem else []
    for item in items:
        try:
            records.append(convert(item))
        except (ValueError, IndexError, TypeError) as exc:
            problems.append(f"skipped an entry: {exc}")
    return ParsedPage(
        source=source,
        records=records,
        total_results=scan.total_results,
        problem="; ".join(problems) or None,
    )


def _complete_part(content: bytes) -> bytes:
    """A damaged document cut after its last complete entry, so that the package's parser
    (which recovers from damage in ways of its own) only sees whole entries."""
    end = content.rfind(b"</entry>")
    return content[: end + len(b"</entry>")] + b"\n</feed>\n" if end >= 0 else b""


def parse_api_page(content: bytes) -> ParsedPage:
    """One page of the export API (`/api/query`)."""
    scan = scan_entries(content, source="arxiv")
    document = _complete_part(content) if scan.problem else bytes(content)
    try:
        results = arxiv_feed.parse(document).results if scan.entries else []
    except ValueError as exc:  # a field the strict scan accepted but the package cannot read
        raise SourceError("arxiv", f"unreadable entry: {exc}") from exc
    complete = {entry.findtext(f"{ATOM}id", "").strip() for entry in scan.entries}
    return _convert(
        "arxiv", scan, [r for r in results if r.entry_id in complete], record_from_result
    )


def _rss_record(entry: Element) -> PaperRecord:
    arxiv_id, version = split_arxiv_id(entry.findtext(f"{ATOM}id", ""))
    announced = datetime.fromisoformat(entry.findtext(f"{ATOM}published", "").strip())
    updated = datetime.fromisoformat(entry.findtext(f"{ATOM}updated", "").strip())
    primary = entry.find(f"{ARXIV}primary_category")
    categories = [cat.get("term", "") for cat in entry.iterfind(f"{ATOM}category")]
    primary_term = primary.get("term", "") if primary is not None else categories[0]
    creators = entry.findtext(f"{DC}creator", "")
    return PaperRecord(
        arxiv_id=arxiv_id,
        version=version,
        title=clean_text(entry.findtext(f"{ATOM}title")),
        abstract=clean_text(_RSS_ABSTRACT_RE.sub("", entry.findtext(f"{ATOM}summary", ""))),
        authors=tuple(name for name in map(clean_text, creators.split(",")) if name),
        primary_category=primary_term,
        categories=_unique([primary_term, *categories]),
        # The feed gives the announcement day, not the submission time: the best it has.
        published=announced.astimezone(UTC),
        updated=updated.astimezone(UTC),
        abs_url=abs_url(arxiv_id),
        pdf_url=pdf_url(arxiv_id),
    )


def parse_rss_feed(content: bytes) -> ParsedPage:
    """The announcement feed (`rss.arxiv.org/atom/<category>`)."""
    scan = scan_entries(content, source="arxiv-rss")
    return _convert("arxiv-rss", scan, scan.entries, _rss_record)
