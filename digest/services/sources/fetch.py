"""Ingestion entry points: live fetches and replays, each logged as an IngestionRun.

Live and replayed documents go through the same parsers and the same upserts.
"""

import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import takewhile
from pathlib import Path
from urllib.parse import urlsplit

import arxiv
from django.conf import settings
from django.utils import timezone

from digest.models import IngestionRun
from digest.services.batching import batched
from digest.services.sources import clients
from digest.services.sources.huggingface import parse_daily_papers
from digest.services.sources.ingest import (
    Counts,
    Outcome,
    add_counts,
    papers_lacking_arxiv_metadata,
    recorded_run,
    store_papers,
    upsert_daily_papers,
)
from digest.services.sources.recorded import parse_recorded, recorded_files
from digest.services.sources.records import PaperRecord, ParsedPage, SourceError

Progress = Callable[[int], None]
# Hugging Face papers whose arXiv record we look up: those first seen this recently, at most
# this many a run (two requests of 100 ids).
LOOKUP_WINDOW = timedelta(days=14)
LOOKUP_LIMIT = 200


@dataclass
class RunReport:
    source: str
    origin: str
    counts: Counts
    problem: str | None = None


def _store_page(page: ParsedPage) -> Counts:
    if page.source == "huggingface":
        return upsert_daily_papers(page.records)
    return Counts.of(store_papers(page.records).values())


def replay_file(*, path: Path, progress: Progress | None = None) -> RunReport:
    """Feed one recorded response through the live parsing and upsert code."""
    origin = str(path)
    source = "replay"
    try:
        with recorded_run(source=source, origin=origin) as run:
            page = parse_recorded(path.read_bytes())
            run.source = source = page.source
            counts = _store_page(page)
            add_counts(run, counts)
            run.error = page.problem or ""
            if progress:
                progress(len(page.records))
    except SourceError as exc:
        return RunReport(source=exc.source, origin=origin, counts=Counts(), problem=exc.problem)
    return RunReport(source=source, origin=origin, counts=counts, problem=page.problem)


def replay(*, paths: list[Path], progress: Progress | None = None) -> list[RunReport]:
    return [replay_file(path=path, progress=progress) for path in recorded_files(paths)]


def _unchanged_tail(outcomes: Iterable[str], known_so_far: int) -> int:
    """How many already-known papers end the stream so far (newest first)."""
    for outcome in outcomes:
        known_so_far = known_so_far + 1 if outcome == Outcome.UNCHANGED else 0
    return known_so_far


def _arxiv_client() -> arxiv.Client:
    return clients.arxiv_client(
        api_url=settings.ARXIV_API_URL,
        page_size=settings.ARXIV_PAGE_SIZE,
        delay_seconds=settings.ARXIV_DELAY_SECONDS,
        num_retries=settings.ARXIV_NUM_RETRIES,
        timeout=settings.HTTP_TIMEOUT_SECONDS,
        max_retry_after=settings.HTTP_MAX_RETRY_AFTER_SECONDS,
    )


def _store_batch(batch: list[PaperRecord], run: IngestionRun) -> dict[str, str]:
    """Store one page of records, counted in the run's log; returns their outcomes."""
    outcomes = store_papers(batch)
    add_counts(run, Counts.of(outcomes.values()))
    return outcomes


def _store_stream(
    records: Iterable[PaperRecord], run: IngestionRun, progress: Progress | None
) -> None:
    """Store records page by page, stopping after ARXIV_STOP_AFTER_KNOWN known ones in a row
    (newest first, what follows we have too)."""
    known = 0
    for batch in batched(records, settings.ARXIV_PAGE_SIZE):
        outcomes = _store_batch(batch, run)
        if progress:
            progress(len(batch))
        known = _unchanged_tail(outcomes.values(), known)
        if known >= settings.ARXIV_STOP_AFTER_KNOWN:
            break


def _complete_hf_papers(client: arxiv.Client, run: IngestionRun) -> None:
    """arXiv's record of the papers Hugging Face featured before our arXiv fetch saw them
    (older ones, other categories): their categories, comment and journal reference. Asked
    for by id, through the same client, so the 3-second spacing holds across both."""
    arxiv_ids = papers_lacking_arxiv_metadata(
        seen_since=timezone.now() - LOOKUP_WINDOW, limit=LOOKUP_LIMIT
    )
    if not arxiv_ids:
        return
    records = clients.iter_arxiv_records(
        client=client, search=clients.lookup_search(arxiv_ids=arxiv_ids)
    )
    try:
        for batch in batched(records, settings.ARXIV_PAGE_SIZE):
            _store_batch(batch, run)
    except SourceError as exc:
        # The newest papers are stored: a partial run, and the next run asks again.
        run.error = f"looking up papers known from Hugging Face: {exc}"


def fetch_arxiv(*, since: date | None = None, progress: Progress | None = None) -> RunReport:
    """Newest arXiv submissions in our categories, until we reach papers we already have
    (or papers older than `since`), each page stored as it arrives; then arXiv's metadata
    for the papers we know only from Hugging Face."""
    client = _arxiv_client()
    search = clients.newest_search(
        categories=settings.ARXIV_CATEGORIES, max_results=settings.ARXIV_MAX_RESULTS
    )
    records = clients.iter_arxiv_records(client=client, search=search)
    if since:
        records = takewhile(lambda record: record.published.date() >= since, records)
    with recorded_run(source="arxiv", origin=settings.ARXIV_API_URL) as run:
        _store_stream(records, run, progress)
        _complete_hf_papers(client, run)
    counts = Counts(new=run.new, updated=run.updated, unchanged=run.unchanged)
    # A failed lookup leaves the run partial: the report says so, like a partial HF day.
    return RunReport(
        source="arxiv", origin=settings.ARXIV_API_URL, counts=counts, problem=run.error or None
    )


def fetch_by_ids(*, arxiv_ids: list[str]) -> RunReport:
    """arXiv's records of these papers, asked for by id (papers a reader says they know)."""
    client = _arxiv_client()
    records = clients.iter_arxiv_records(
        client=client, search=clients.lookup_search(arxiv_ids=arxiv_ids)
    )
    with recorded_run(source="arxiv", origin=settings.ARXIV_API_URL) as run:
        for batch in batched(records, settings.ARXIV_PAGE_SIZE):
            _store_batch(batch, run)
    counts = Counts(new=run.new, updated=run.updated, unchanged=run.unchanged)
    return RunReport(source="arxiv", origin=settings.ARXIV_API_URL, counts=counts)


def fetch_huggingface(*, day: date | None = None, progress: Progress | None = None) -> RunReport:
    """The Daily Papers of one day (today, UTC, by default)."""
    day = day or timezone.now().date()
    origin = f"{settings.HF_API_URL}/api/daily_papers?date={day.isoformat()}"
    with recorded_run(source="huggingface", origin=origin) as run:
        session = clients.http_session(
            user_agent=settings.HTTP_USER_AGENT,
            max_retry_after=settings.HTTP_MAX_RETRY_AFTER_SECONDS,
        )
        content = clients.fetch_daily_papers(
            session=session,
            api_url=settings.HF_API_URL,
            day=day,
            timeout=settings.HTTP_TIMEOUT_SECONDS,
        )
        page = parse_daily_papers(content, day=day)
        counts = upsert_daily_papers(page.records)
        add_counts(run, counts)
        run.error = page.problem or ""
        if progress:
            progress(len(page.records))
    return RunReport(source="huggingface", origin=origin, counts=counts, problem=page.problem)


def upstream_reachable(url: str, *, timeout: float = 3.0) -> bool:
    """A quick TCP connect, so that an offline machine is told so at once."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False
