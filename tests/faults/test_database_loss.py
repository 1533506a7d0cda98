"""PostgreSQL drops the worker's connections in the middle of the daily send (its backends
are terminated, as in a failover or a restart): the tasks retry on new connections, nothing
is recorded as sent that the SMTP server did not accept, and the run completes."""

import time

import pytest
from django.db import connection

from digest.models import Delivery
from tasks.mail import send_due_digests
from tests.conftest import publish, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]
READERS = 400
# Cuts, each once this many more digests are recorded as sent.
CUT_EVERY = 60
# Cuts in a row, a tenth of a second apart.
BURST = 30


def _terminate_other_backends() -> int:
    """Every connection to the test database but this test's own: the worker's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_lost_database_connections_during_the_send(
    make_readers, sink, celery, shared_broker, processes
):
    make_readers(READERS)
    sink.start()
    worker = celery.worker(broker=shared_broker, MAIL_CHUNK_SIZE="20")
    publish(shared_broker, send_due_digests)
    sent = Delivery.objects.filter(state=Delivery.State.SENT)

    cuts = 0
    for threshold in range(CUT_EVERY, READERS // 2, CUT_EVERY):
        wait_for(lambda t=threshold: sent.count() >= t, timeout=120, what=f"{threshold} sent")
        cuts += _terminate_other_backends()
    # Then a flapping database: cut after cut for a few seconds, whatever the worker is doing
    # (claiming, reading a chunk, recording, or planning its retry).
    for _ in range(BURST):
        cuts += _terminate_other_backends()
        time.sleep(0.1)

    wait_for(lambda: sent.count() == READERS, timeout=180, what="every digest sent")
    log = processes.log(worker)
    print(
        f"\nterminated {cuts} worker connections to PostgreSQL mid-send; the worker retried"
        f" {log.count('retry: Retry in')} task(s) and"
        f" {log.count('database connection lost recording sends')} record(s)"
    )
    assert Delivery.objects.count() == READERS
    # Each reader got one message, and each sent delivery is one the server accepted.
    sink.assert_one_each(READERS)
    for email, message_id in sent.values_list("subscriber__email", "message_id"):
        assert sink.accepted[email] == [message_id]
