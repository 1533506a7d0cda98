"""Thin ingestion tasks: each calls one service, then queues what follows an ingestion.
Fetches are idempotent upserts, so a retry or a redelivered task is harmless."""

from celery import shared_task

from digest.services.sources import fetch, stars
from digest.services.sources.records import SourceError
from tasks.embed import embed_papers
from tasks.ranking import recompute_trending_scores

RETRY = {"autoretry_for": (SourceError,), "retry_backoff": 60, "retry_backoff_max": 900}


def _after_ingestion() -> None:
    # The services have committed by now: workers see every stored paper.
    embed_papers.delay()
    recompute_trending_scores.delay()


@shared_task(name="tasks.ingest.fetch_arxiv", max_retries=3, **RETRY)
def fetch_arxiv() -> str:
    counts = fetch.fetch_arxiv().counts
    _after_ingestion()
    return str(counts)


@shared_task(name="tasks.ingest.fetch_huggingface", max_retries=3, **RETRY)
def fetch_huggingface() -> str:
    counts = fetch.fetch_huggingface().counts
    _after_ingestion()
    return str(counts)


@shared_task(name="tasks.ingest.refresh_stars", max_retries=3, **RETRY)
def refresh_stars() -> str:
    result = stars.refresh_stars()
    if result.changed:
        recompute_trending_scores.delay()
    return f"{result.checked} checked, {result.changed} changed"
