"""/metrics as Prometheus scrapes it: django-prometheus's own metrics and ours, read from the
database and the broker."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from digest.models import Delivery, IngestionRun, Paper, Subscriber

pytestmark = pytest.mark.django_db
TOKEN = "scrape-token-for-the-test"


def _samples(response) -> dict[tuple[str, tuple], float]:
    families = text_string_to_metric_families(response.content.decode())
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN
    return lambda: client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def test_metrics_count_digests_runs_queues_and_readers(scrape, corpus):
    today = timezone.now().date()
    states = ["sent", "sent", "failed", "ambiguous", "pending"]
    for i, state in enumerate(states):
        reader = Subscriber.objects.create(email=f"r{i}@example.org", status="active")
        Delivery.objects.create(subscriber=reader, local_date=today, state=state)
    Paper.objects.filter(pk=Paper.objects.first().pk).update(flagged=True)
    response = scrape()
    assert response.status_code == 200
    samples = _samples(response)
    day = today.isoformat()
    for state, count in {
        "sent": 2,
        "failed": 1,
        "ambiguous": 1,
        "pending": 1,
        "sending": 0,
    }.items():
        assert samples[("digest_deliveries", (("local_date", day), ("state", state)))] == count
    assert samples[("digest_deliveries_planned", (("local_date", day),))] == 5
    assert samples[("digest_subscribers", (("status", "active"),))] == 5
    assert samples[("digest_moderation_queue", ())] == 1
    # The corpus was replayed: its runs are there, young.
    runs = {key: value for key, value in samples.items() if key[0] == "digest_ingestion_runs"}
    assert sum(runs.values()) == IngestionRun.objects.count() > 0
    ages = [v for k, v in samples.items() if k[0] == "digest_ingestion_last_run_age_seconds"]
    assert ages and all(0 <= age < 600 for age in ages)
    # The quick start's filesystem broker answers too; nothing waits on it.
    assert samples[("digest_broker_up", ())] == 1
    assert samples[("digest_queue_length", (("queue", "mail"),))] == 0
    # django-prometheus's own request metrics come first.
    assert any(name.startswith("django_http_requests") for name, _ in samples)


def test_an_old_success_shows_in_its_age(scrape, db):
    run = IngestionRun.objects.create(source="arxiv", origin="x", status=IngestionRun.Status.OK)
    long_ago = timezone.now() - timedelta(hours=9)
    IngestionRun.objects.filter(pk=run.pk).update(started_at=long_ago, finished_at=long_ago)
    samples = _samples(scrape())
    age = samples[("digest_ingestion_last_success_age_seconds", (("source", "arxiv"),))]
    assert 9 * 3600 <= age < 9 * 3600 + 600


def test_queue_lengths_on_redis(scrape, settings, redis_url):
    import redis

    settings.CELERY_BROKER_URL = redis_url
    client = redis.Redis.from_url(redis_url)
    client.delete("mail")
    client.lpush("mail", "a", "b", "c")
    try:
        samples = _samples(scrape())
    finally:
        client.delete("mail")
    assert samples[("digest_queue_length", (("queue", "mail"),))] == 3


def test_metrics_need_the_token(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    settings.METRICS_TOKEN, settings.PRODUCTION = "", True
    assert client.get("/metrics").status_code == 403
