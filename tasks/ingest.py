"""Thin ingestion tasks: each calls one service. Fetches are idempotent upserts, so a retry or a
task redelivered after a worker died is harmless."""

from celery import shared_task

from digest.services.sources import fetch, stars
from digest.services.sources.records import SourceError

RETRY = {"autoretry_for": (SourceError,), "retry_backoff": 60, "retry_backoff_max": 900}


@shared_task(name="tasks.ingest.fetch_arxiv", max_retries=3, **RETRY)
def fetch_arxiv() -> str:
    return str(fetch.fetch_arxiv().counts)


@shared_task(name="tasks.ingest.fetch_huggingface", max_retries=3, **RETRY)
def fetch_huggingface() -> str:
    return str(fetch.fetch_huggingface().counts)


@shared_task(name="tasks.ingest.refresh_stars", max_retries=3, **RETRY)
def refresh_stars() -> str:
    result = stars.refresh_stars()
    return f"{result.checked} checked, {result.changed} changed"
