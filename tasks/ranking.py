"""Trending scores are recomputed after each ingestion."""

from celery import shared_task

from digest.services.trending import recompute_trending
from tasks.retries import DATABASE_ERRORS


@shared_task(
    name="tasks.ranking.recompute_trending",
    autoretry_for=DATABASE_ERRORS,
    max_retries=3,
    retry_backoff=60,
)
def recompute_trending_scores() -> int:
    return recompute_trending()
