"""Thin mail tasks on the `mail` queue (routed by CELERY_TASK_ROUTES). The delivery service
decides what may be sent; these tasks only carry ids and own the retries. A duplicated or
redelivered task is harmless: each delivery is claimed once."""

import smtplib

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from digest.services import delivery
from tasks.locks import single_run
from tasks.retries import DATABASE_ERRORS

# Short waits after a database error: a database is back in seconds, unlike a mail relay
# that refuses us.
DATABASE_RETRIES = 8
DATABASE_BACKOFF_MAX_SECONDS = 60
SCHEDULE_LOCK = "send_due_digests"


def _backoff(retries: int) -> int:
    return min(
        settings.MAIL_RETRY_BACKOFF_SECONDS * 2**retries, settings.MAIL_RETRY_MAX_BACKOFF_SECONDS
    )


def _database_backoff(retries: int) -> int:
    return min(2**retries, DATABASE_BACKOFF_MAX_SECONDS)


@shared_task(
    name="tasks.mail.send_due_digests",
    autoretry_for=DATABASE_ERRORS,
    max_retries=DATABASE_RETRIES,
    retry_backoff=1,
    retry_backoff_max=DATABASE_BACKOFF_MAX_SECONDS,
)
def send_due_digests() -> int | None:
    """Every few minutes (beat): plan the digests that are due, then fan out the sending.
    The plans are committed when `schedule` returns, so workers see every delivery. A run
    that finds another one still planning leaves it the work (None)."""
    interval = settings.MAIL_SCHEDULE_EVERY_MINUTES * 60
    with single_run(SCHEDULE_LOCK, expires_seconds=interval) as mine:
        if not mine:
            return None
        batches = delivery.schedule(now=timezone.now())
    for delivery_ids in batches:
        send_digest_chunk.delay(delivery_ids)
    return sum(len(delivery_ids) for delivery_ids in batches)


@shared_task(bind=True, name="tasks.mail.send_digest_chunk", max_retries=None)
def send_digest_chunk(self, delivery_ids: list[int]) -> str:
    """One SMTP connection for a chunk; the temporarily refused part comes back later (each
    delivery gives up after MAIL_MAX_ATTEMPTS tries, so this ends)."""
    try:
        report = delivery.send_chunk(delivery_ids=delivery_ids)
    except delivery.MailServerUnavailable as exc:
        if self.request.retries >= settings.MAIL_MAX_ATTEMPTS:
            raise  # left pending: the scheduled run queues them again later
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
    except DATABASE_ERRORS as exc:
        # What was claimed stays `sending` unless recorded: never resent, only the pending rest.
        if self.request.retries >= DATABASE_RETRIES:
            raise  # left pending: the scheduled run queues them again later
        raise self.retry(exc=exc, countdown=_database_backoff(self.request.retries)) from exc
    if report.retry:
        raise self.retry(args=[report.retry], countdown=_backoff(self.request.retries))
    return str(report)


@shared_task(
    name="tasks.mail.send_subscription_email",
    autoretry_for=(smtplib.SMTPException, OSError),
    max_retries=5,
    retry_backoff=60,
    # Not idempotent: run again after its worker died mid-send, it could mail the reader
    # twice. Lost instead, the reader asks for a new link (the page offers one).
    reject_on_worker_lost=False,
)
def send_subscription_email(subscriber_id: int, notice: str) -> None:
    # A permanent refusal raises delivery.NoticeRefused, which is no SMTPException: the
    # task fails once, logged, instead of asking the server five more times.
    delivery.send_notice(subscriber_id=subscriber_id, notice=notice)
