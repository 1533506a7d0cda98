"""Recognise a recorded upstream response by its content and hand it to the right parser."""

import json
from collections.abc import Iterator
from pathlib import Path

from digest.services.sources.arxiv_feed import parse_api_page, parse_rss_feed
from digest.services.sources.huggingface import parse_daily_papers
from digest.services.sources.records import ParsedPage, SourceError


def _unwrap_recording(document: dict) -> bytes:
    """A `{"url", "status_code", "body"}` recording: the body as the bytes that were received."""
    status = document.get("status_code")
    if status != 200:
        raise SourceError("replay", f"the recorded response was HTTP {status}, not 200")
    body = document.get("body")
    if not isinstance(body, str):
        raise SourceError("replay", "the recording has no text body")
    try:
        # Recorders that decoded the bytes as Latin-1 stored one character per byte: undo it.
        return body.encode("latin-1")
    except UnicodeEncodeError:
        return body.encode("utf-8")


def parse_recorded(content: bytes) -> ParsedPage:
    head = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:4096]
    if head.startswith(b"<"):
        if b"rss.arxiv.org" in head or b"announce_type" in head:
            return parse_rss_feed(content)
        if b"<feed" in head:
            return parse_api_page(content)
        raise SourceError("replay", "XML that is neither an arXiv API page nor an arXiv feed")
    if head.startswith(b"["):
        return parse_daily_papers(content)
    if head.startswith(b"{"):
        try:
            document = json.loads(content)
        except json.JSONDecodeError as exc:
            raise SourceError("replay", f"invalid JSON at line {exc.lineno}: {exc.msg}") from exc
        except UnicodeDecodeError as exc:
            raise SourceError("replay", f"JSON that is not UTF-8 ({exc.reason})") from exc
        if isinstance(document, dict) and {"status_code", "body"} <= document.keys():
            return parse_recorded(_unwrap_recording(document))
    raise SourceError("replay", "unrecognised format (not arXiv Atom nor Hugging Face JSON)")


def damaged_on_purpose(path: Path) -> bool:
    """A recording kept cut off to show how damaged input is handled (its name says so, as
    `cs.AI_2025-08-20.truncated.xml`): its problem is the expected one, not news."""
    return ".truncated." in path.name


def recorded_files(paths: list[Path]) -> Iterator[Path]:
    """Files named, and the files inside folders named, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix != ".md")
        elif path.is_file():
            yield path
        else:
            raise SourceError("replay", f"no such file or folder: {path}")
