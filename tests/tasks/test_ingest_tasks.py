"""The ingestion tasks run by a real Celery worker on Redis, against a loopback upstream."""

from dataclasses import replace

import pytest
from django.utils import timezone

from digest.models import IngestionRun, Paper
from digest.services.sources.huggingface import parse_daily_papers
from digest.services.sources.ingest import upsert_daily_papers
from tasks import app
from tasks.ingest import check_code, fetch_huggingface
from tests.conftest import HF_DAILY, wait_for


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


@pytest.mark.django_db(transaction=True)
def test_a_worker_re_checks_the_code_of_due_papers(start_worker, redis_url, code_check_upstream):
    # Derived from the recorded day: EvoArena first came without its `githubRepo`.
    records = parse_daily_papers(HF_DAILY.read_bytes()).records
    upsert_daily_papers(
        [replace(r, github_repo=None) if r.paper.arxiv_id == "2606.13681" else r for r in records]
    )
    Paper.objects.filter(pk="2606.13681").update(code_next_check_at=timezone.now())
    upstream = code_check_upstream.url
    start_worker(env={"HF_API_URL": upstream, "ARXIV_API_URL": f"{upstream}/api/query"})
    with app.connection_for_write(redis_url) as connection:
        check_code.apply_async(connection=connection)

    paper = wait_for(
        lambda: Paper.objects.filter(pk="2606.13681", code_checked_at__isnull=False).first(),
        what="the worker to re-check the due paper",
    )
    assert paper.code_status == Paper.CodeStatus.RELEASED
    assert "/api/papers/2606.13681" in code_check_upstream.requests
    # Only the due paper was looked at.
    assert sum(path.startswith("/api/papers/") for path in code_check_upstream.requests) == 1
