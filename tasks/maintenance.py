"""Housekeeping that beat runs daily: old rows pruned (digest/services/retention.py)."""

from celery import shared_task

from digest.services.retention import prune_old_records as prune
from tasks.retries import DATABASE_ERRORS


@shared_task(
    name="tasks.maintenance.prune",
    autoretry_for=DATABASE_ERRORS,
    max_retries=3,
    retry_backoff=60,
)
def prune_old_records() -> str:
    # Deleting what is past its retention twice is harmless: a retry or a redelivery is safe.
    return str(prune())
