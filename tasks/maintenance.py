"""Housekeeping that beat runs: old rows pruned daily (digest/services/retention.py), the
operators' alarm every few minutes (digest/services/alarm.py)."""

import smtplib

from celery import shared_task
from django.utils import timezone

from digest.services import alarm
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


@shared_task(
    name="tasks.maintenance.raise_alarms",
    autoretry_for=(*DATABASE_ERRORS, smtplib.SMTPException, OSError),
    max_retries=3,
    retry_backoff=60,
)
def check_alarms() -> list[str]:
    # Run twice, it mails nothing twice: each trouble is marked once mailed.
    return alarm.raise_alarms(now=timezone.now())
