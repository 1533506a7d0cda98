"""The ingestion tasks run by a real Celery worker on Redis, against a loopback upstream."""

import pytest

from digest.models import IngestionRun, Paper
from tasks import app
from tasks.ingest import fetch_huggingface
from tests.conftest import wait_for


@pytest.mark.django_db(transaction=True)
def test_a_worker_fetches_daily_papers(start_worker, redis_url, hf_upstream):
    start_worker(env={"HF_API_URL": hf_upstream.url})
    with app.connection_for_write(redis_url) as connection:
        fetch_huggingface.apply_async(connection=connection)

    run = wait_for(
        lambda: IngestionRun.objects.filter(finished_at__isnull=False).first(),
        what="the worker to finish the Hugging Face run",
    )
    assert run.status == IngestionRun.Status.OK
    assert (run.source, run.new) == ("huggingface", 30)
    assert Paper.objects.count() == 30
    assert hf_upstream.requests[0].startswith("/api/daily_papers?date=")
