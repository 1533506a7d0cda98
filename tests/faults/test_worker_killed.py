"""A worker SIGKILLed in the middle of the daily send: nothing is sent twice, nothing is lost,
and what cannot be known is marked for review instead of being resent."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from digest.models import Delivery, Subscriber
from digest.services import delivery
from digest.services.delivery import CLAIM_BATCH
from tasks.mail import send_digest_chunk, send_due_digests
from tests.conftest import publish, wait_for, wait_until_mail_idle
from tests.faults.conftest import states

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]
State = Delivery.State
READERS = 2000


def _count(state: str) -> int:
    return Delivery.objects.filter(state=state).count()


def test_a_worker_killed_mid_send_sends_nothing_twice(
    make_readers, sink, celery, shared_broker, processes, admin_client
):
    make_readers(READERS)
    sink.start()
    first = celery.worker(broker=shared_broker)
    publish(shared_broker, send_due_digests)

    # Partway, and if we can while a claimed batch is on the wire.
    wait_for(lambda: _count(State.SENT) >= READERS // 5, timeout=240, what="a fifth sent")
    wait_for(lambda: _count(State.SENDING), timeout=240, what="a batch being sent")
    processes.kill(first)
    killed_at = timezone.now()
    print(f"\nkilled the worker with {dict(states())}")

    # A new worker sends the chunks still queued. The killed worker's own chunk stays out
    # (unacknowledged) until the broker's visibility timeout: its unsent digests wait for
    # the scheduled run, and its claimed ones (`sending`) must not be sent again.
    celery.worker(broker=shared_broker)
    wait_until_mail_idle(shared_broker, unacked=1, timeout=240)
    assert not Delivery.objects.filter(state=State.SENDING, claimed_at__gt=killed_at).exists()

    # The scheduled run, once the claims are older than MAIL_STALE_AFTER_MINUTES.
    later = timezone.now() + timedelta(minutes=settings.MAIL_STALE_AFTER_MINUTES + 1)
    for delivery_ids in delivery.schedule(now=later):
        publish(shared_broker, send_digest_chunk, delivery_ids)
    wait_for(
        lambda: _count(State.SENT) + _count(State.AMBIGUOUS) == READERS,
        timeout=120,
        what="every digest sent or marked for review",
    )
    wait_until_mail_idle(shared_broker, unacked=1)

    final = states()
    ambiguous = list(Delivery.objects.filter(state=State.AMBIGUOUS).select_related("subscriber"))
    reached = sum(1 for d in ambiguous if sink.accepted.get(d.subscriber.email))
    print(
        f"worker killed mid-send: {len(ambiguous)} of {READERS} digests ambiguous"
        f" ({reached} of them had reached the SMTP sink), {dict(final)}"
    )
    # At most the claimed batch the worker was sending when it died.
    assert len(ambiguous) <= CLAIM_BATCH
    assert sum(final.values()) == Subscriber.objects.count() == READERS
    assert max(len(ids) for ids in sink.accepted.values()) == 1
    # Every other reader has exactly the message their sent delivery records.
    for email, message_id in Delivery.objects.filter(state=State.SENT).values_list(
        "subscriber__email", "message_id"
    ):
        assert sink.accepted[email] == [message_id]
    assert sink.total() == final[State.SENT] + sum(
        len(sink.accepted[d.subscriber.email]) for d in ambiguous
    )

    # Another scheduled run resends nothing: the ambiguous ones are for a person to review,
    # and they find them in the admin.
    assert delivery.schedule(now=later) == []
    assert all("stopped while sending" in d.error for d in ambiguous)
    changelist = reverse("admin:digest_delivery_changelist")
    page = admin_client.get(changelist, {"state__exact": State.AMBIGUOUS}).content.decode()
    assert all(d.subscriber.email in page for d in ambiguous)
    assert f"{len(ambiguous)} deliver" in page
