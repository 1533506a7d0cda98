"""The mail tasks run by real Celery workers on Redis, sending to a real SMTP server."""

from datetime import date

import pytest
from django.core.cache import cache

from digest.models import Delivery, Subscriber
from digest.services import delivery
from tasks.locks import lock_key
from tasks.mail import (
    SCHEDULE_LOCK,
    send_digest_chunk,
    send_due_digests,
    send_subscription_email,
)
from tests.conftest import publish, wait_for, wait_until_mail_idle

pytestmark = pytest.mark.django_db(transaction=True)
Status = Subscriber.Status
SENT = Delivery.State.SENT


def _reader(email: str, status: str = Status.ACTIVE) -> Subscriber:
    # Hour 0 in UTC: due whenever the test runs.
    return Subscriber.objects.create(
        email=email, status=status, interests="LLM agents", delivery_hour=0, digest_size=3
    )


@pytest.fixture
def mail_worker(start_worker, mail_env):
    def start(**env: str):
        return start_worker(queues="mail", env={**mail_env, **env})

    return start


def test_the_scheduled_run_sends_each_due_reader_one_digest(
    corpus, mail_worker, smtp_server, redis_url
):
    readers = [_reader(f"r{i}@example.org") for i in range(3)]
    left = _reader("left@example.org", Status.UNSUBSCRIBED)
    pending = _reader("pending@example.org", Status.PENDING)
    mail_worker(MAIL_CHUNK_SIZE="2")  # two chunks: fanned out as two tasks
    publish(redis_url, send_due_digests)

    wait_for(
        lambda: Delivery.objects.filter(state=SENT).count() == 3,
        timeout=180,
        what="the worker to send three digests",
    )
    wait_until_mail_idle(redis_url, timeout=60)
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(r.email for r in readers)
    assert not smtp_server.to(left.email) and not smtp_server.to(pending.email)

    # The next run finds nobody due: everyone has today's digest.
    publish(redis_url, send_due_digests)
    publish(redis_url, send_subscription_email, pending.pk, "confirm")
    wait_for(lambda: smtp_server.to(pending.email), what="the confirmation email")
    wait_until_mail_idle(redis_url, timeout=60)
    assert len(smtp_server.messages) == 4
    assert Delivery.objects.count() == 3


def test_the_same_chunk_queued_twice_to_two_workers_sends_once(
    corpus, mail_worker, smtp_server, redis_url
):
    readers = [_reader(f"r{i}@example.org") for i in range(6)]
    ids = delivery.plan(day=date(2026, 6, 12), subscriber_ids=[r.pk for r in readers])
    mail_worker()
    mail_worker()
    for _ in range(3):
        publish(redis_url, send_digest_chunk, ids)

    wait_for(
        lambda: Delivery.objects.filter(state=SENT).count() == 6,
        timeout=180,
        what="six digests sent",
    )
    wait_until_mail_idle(redis_url, timeout=60)
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(r.email for r in readers)


def test_a_temporary_refusal_is_retried_by_the_task(corpus, mail_worker, smtp_server, redis_url):
    reader = _reader("busy@example.org")
    smtp_server.refuse[reader.email] = "451 4.3.0 Try again later"
    ids = delivery.plan(day=date(2026, 6, 12), subscriber_ids=[reader.pk])
    mail_worker(MAIL_RETRY_BACKOFF_SECONDS="1")
    publish(redis_url, send_digest_chunk, ids)

    refused = wait_for(
        lambda: Delivery.objects.filter(error__startswith="451").first(),
        timeout=120,
        what="the first, refused attempt",
    )
    assert refused.state == Delivery.State.PENDING
    smtp_server.refuse.clear()
    sent = wait_for(lambda: Delivery.objects.filter(state=SENT).first(), what="the retried digest")
    assert sent.attempts >= 2 and len(smtp_server.to(reader.email)) == 1


def test_a_run_that_finds_another_still_planning_leaves_it_the_work(
    corpus, redis_cache, eager_tasks, smtp_server, mail_env
):
    reader = _reader("due@example.org")
    cache.add(lock_key(SCHEDULE_LOCK), "held by another run")
    assert send_due_digests.delay().get() is None
    assert not Delivery.objects.exists()

    cache.delete(lock_key(SCHEDULE_LOCK))  # that run ended
    send_due_digests.delay()
    assert len(smtp_server.to(reader.email)) == 1
    assert cache.get(lock_key(SCHEDULE_LOCK)) is None
