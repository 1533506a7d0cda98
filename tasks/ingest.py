"""Thin ingestion tasks: each calls one service, then queues what follows an ingestion.
Fetches are idempotent upserts, so a retry or a redelivered task is harmless."""

from collections.abc import Callable

from celery import shared_task
from django.conf import settings

from digest.services import seeds
from digest.services.sources import code_checks, fetch, stars
from digest.services.sources.fetch import RunReport
from digest.services.sources.records import SourceError
from tasks.embed import embed_papers
from tasks.locks import single_run
from tasks.ranking import recompute_trending_scores

RETRY = {"autoretry_for": (SourceError,), "retry_backoff": 60, "retry_backoff_max": 900}


def _after_ingestion() -> None:
    # The services have committed by now: workers see every stored paper.
    embed_papers.delay()
    recompute_trending_scores.delay()


def _fetch_alone(name: str, fetch_source: Callable[[], RunReport], *, minutes: int) -> str | None:
    """One fetch of a source at a time (see tasks/locks.py): for arXiv, two would break its
    one-request-every-3-seconds rule. None when another is still running."""
    with single_run(name, expires_seconds=minutes * 60) as mine:
        if not mine:
            return None
        counts = fetch_source().counts
    _after_ingestion()
    return str(counts)


@shared_task(name="tasks.ingest.fetch_arxiv", max_retries=3, **RETRY)
def fetch_arxiv() -> str | None:
    minutes = settings.ARXIV_FETCH_EVERY_MINUTES
    return _fetch_alone("fetch_arxiv", fetch.fetch_arxiv, minutes=minutes)


@shared_task(name="tasks.ingest.fetch_huggingface", max_retries=3, **RETRY)
def fetch_huggingface() -> str | None:
    minutes = settings.HF_FETCH_EVERY_MINUTES
    return _fetch_alone("fetch_huggingface", fetch.fetch_huggingface, minutes=minutes)


@shared_task(name="tasks.ingest.refresh_stars", max_retries=3, **RETRY)
def refresh_stars() -> str:
    result = stars.refresh_stars()
    if result.changed:
        recompute_trending_scores.delay()
    return f"{result.checked} checked, {result.changed} changed"


@shared_task(name="tasks.ingest.check_code", max_retries=3, **RETRY)
def check_code() -> str:
    """The papers whose code re-check is due; one bad source or repository costs only itself.
    It looks papers up on arXiv: under the arXiv fetch's lock, so that arXiv never sees two
    clients of ours at once."""
    minutes = settings.ARXIV_FETCH_EVERY_MINUTES
    with single_run("fetch_arxiv", expires_seconds=minutes * 60) as mine:
        if not mine:
            return "an arXiv fetch is running: the due papers wait for the next run"
        report = code_checks.check_code()
    if report.released:
        recompute_trending_scores.delay()
    return str(report)


@shared_task(name="tasks.ingest.seed_liked_papers", max_retries=3, **RETRY)
def seed_liked_papers(subscriber_id: int, arxiv_ids: list[str]) -> str:
    """Papers a reader says they know become liked papers; new ones are embedded next."""
    report = seeds.like_papers(subscriber_id=subscriber_id, arxiv_ids=arxiv_ids)
    if report.fetched:
        embed_papers.delay()
    return f"{len(report.liked)} liked, {report.fetched} fetched, {len(report.unknown)} unknown"
