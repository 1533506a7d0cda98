"""The day's send triggered more than once: twice at the same moment, and by two beat
processes left running side by side. Every reader still gets one digest."""

import pytest

from digest.models import Delivery
from tasks.mail import send_due_digests
from tests.conftest import publish, wait_for, wait_until_mail_idle

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]
READERS = 300
# Beat's log line for each run it queues.
SENDING_DUE = "Sending due task send-due-digests"


def test_the_send_triggered_twice_and_by_two_beats_sends_one_digest_each(
    make_readers, sink, celery, shared_broker, processes
):
    make_readers(READERS)
    sink.start()
    for _ in range(2):
        celery.worker(broker=shared_broker, MAIL_CHUNK_SIZE="25")
    # Two runs queued at once, each taken by its own worker: they plan side by side.
    publish(shared_broker, send_due_digests)
    publish(shared_broker, send_due_digests)
    beats = [
        celery.beat(broker=shared_broker, MAIL_SCHEDULE_EVERY_MINUTES="0.05") for _ in range(2)
    ]

    wait_for(
        lambda: Delivery.objects.filter(state=Delivery.State.SENT).count() == READERS,
        timeout=180,
        what="every digest sent",
    )
    # Both beats keep queueing runs while and after the digests go out.
    for beat in beats:
        wait_for(
            lambda beat=beat: processes.log(beat).count(SENDING_DUE) >= 3,
            timeout=60,
            what="three runs from each beat",
        )
        processes.stop(beat)
    wait_until_mail_idle(shared_broker)

    assert Delivery.objects.count() == READERS
    assert set(Delivery.objects.values_list("state", flat=True)) == {Delivery.State.SENT}
    sink.assert_one_each(READERS)
