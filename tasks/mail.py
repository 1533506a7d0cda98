"""Thin mail tasks on the `mail` queue (routed by CELERY_TASK_ROUTES). The delivery service
decides what may be sent; these tasks only carry ids and own the retries. A duplicated or
redelivered task is harmless: each delivery is claimed once."""

import smtplib

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from digest.services import delivery

# Longest wait between two tries of the same chunk.
MAX_BACKOFF_SECONDS = 3600


def _backoff(retries: int) -> int:
    return min(settings.MAIL_RETRY_BACKOFF_SECONDS * 2**retries, MAX_BACKOFF_SECONDS)


@shared_task(name="tasks.mail.send_due_digests")
def send_due_digests() -> int:
    """Every few minutes (beat): plan the digests that are due, then fan out the sending.
    The plans are committed when `schedule` returns, so workers see every delivery."""
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
    if report.retry:
        raise self.retry(args=[report.retry], countdown=_backoff(self.request.retries))
    return str(report)


@shared_task(
    name="tasks.mail.send_subscription_email",
    autoretry_for=(smtplib.SMTPException, OSError),
    max_retries=5,
    retry_backoff=60,
)
def send_subscription_email(subscriber_id: int, notice: str) -> None:
    delivery.send_notice(subscriber_id=subscriber_id, notice=notice)
