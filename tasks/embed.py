"""Embedding runs on its own `embed` queue, so a GPU machine can take it alone."""

from celery import shared_task

from digest.services.embedding.papers import embed_missing_papers
from tasks.retries import DATABASE_ERRORS


@shared_task(
    name="tasks.embed.embed_papers", autoretry_for=DATABASE_ERRORS, max_retries=3, retry_backoff=60
)
def embed_papers() -> int:
    return embed_missing_papers().embedded
