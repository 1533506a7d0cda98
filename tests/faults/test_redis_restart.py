"""The broker (a private Redis) crashes and comes back while a worker is sending the day's
digests, and while one is ingesting: the workers reconnect by themselves, the run completes,
nothing is skipped or done twice."""

import time

import pytest

from digest.models import Delivery, IngestionRun, Paper, TrendingScore
from tasks.ingest import fetch_arxiv
from tasks.mail import send_due_digests
from tests.conftest import publish, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]
READERS = 400


# What a worker logs when it has lost the broker and failed to reconnect at least once.
RECONNECTING = "Cannot connect to redis://"
# How long Redis stays down after the ingestion ends: longer than kombu's default publish
# retries (a fraction of a second), as a real restart would be.
OUTAGE_SECONDS = 3


@pytest.mark.parametrize(
    "private_redis", [True, False], ids=["appendonly", "no-persistence"], indirect=True
)
def test_a_redis_restart_during_the_send(make_readers, sink, celery, private_redis, processes):
    """With `appendonly` the queued chunks survive the restart and the worker sends them when
    it is back. A restart can still lose the one message being handed to the worker at that
    instant, and without persistence it loses every queued chunk: then the scheduled run
    (a real beat, every 3 s here) queues the deliveries still pending after
    MAIL_STALE_AFTER_MINUTES (15 s here) again. Either way each reader gets one digest."""
    make_readers(READERS)
    sink.start()
    stale = {"MAIL_STALE_AFTER_MINUTES": "0.25"}
    worker = celery.worker(broker=private_redis.url, MAIL_CHUNK_SIZE="50", **stale)
    publish(private_redis.url, send_due_digests)
    sent = Delivery.objects.filter(state=Delivery.State.SENT)
    wait_for(lambda: sent.count() >= READERS // 5, timeout=120, what="a fifth sent")

    private_redis.crash()
    wait_for(lambda: RECONNECTING in processes.log(worker), what="the worker to miss Redis")
    private_redis.start()
    celery.beat(broker=private_redis.url, MAIL_SCHEDULE_EVERY_MINUTES="0.05", **stale)

    wait_for(lambda: sent.count() == READERS, timeout=180, what="every digest sent")
    assert Delivery.objects.count() == READERS
    sink.assert_one_each(READERS)


def test_a_redis_restart_during_ingestion(celery, private_redis, arxiv_upstream):
    # The three recorded arXiv pages, 3 seconds apart as arXiv asks: time to crash Redis.
    celery.worker(
        broker=private_redis.url,
        queues="celery",
        ARXIV_API_URL=f"{arxiv_upstream.url}/api/query",
        ARXIV_PAGE_SIZE="100",
        ARXIV_MAX_RESULTS="300",
    )
    publish(private_redis.url, fetch_arxiv)
    wait_for(lambda: arxiv_upstream.requests, timeout=120, what="the first arXiv request")

    # Redis stays down until the fetch has ended and the worker is queueing what follows.
    private_redis.crash()
    run = wait_for(
        lambda: IngestionRun.objects.filter(finished_at__isnull=False).first(),
        timeout=120,
        what="the ingestion run to finish",
    )
    time.sleep(OUTAGE_SECONDS)
    private_redis.start()
    assert (run.status, run.new) == (IngestionRun.Status.OK, 300)
    assert Paper.objects.count() == 300
    # What follows an ingestion was queued on the restarted broker: the worker scored the
    # papers, and their embedding waits on the `embed` queue for the embed worker.
    wait_for(lambda: TrendingScore.objects.count() == 300, timeout=120, what="trending scores")
    assert private_redis.client().llen("embed") == 1
    assert IngestionRun.objects.count() == 1
    assert [path.split("start=")[1].split("&")[0] for path in arxiv_upstream.requests] == [
        "0",
        "100",
        "200",
    ]
