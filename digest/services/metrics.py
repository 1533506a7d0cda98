"""Our own Prometheus metrics, read from the database and the broker at each scrape (so every
web process tells the same, whichever one Prometheus reaches): digests per day and state,
ingestion runs and their age, queue lengths, the moderation queue, readers by status."""

import logging
from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import CollectorRegistry, GaugeMetricFamily
from prometheus_client.registry import Collector

from digest.models import Subscriber
from digest.services import operations

log = logging.getLogger(__name__)
# Local dates reported: the week, so a dashboard can compare today with the same weekday.
DAYS = 7


def _deliveries(today) -> Iterator[GaugeMetricFamily]:
    by_state = GaugeMetricFamily(
        "digest_deliveries", "Digests per local date and state", labels=["local_date", "state"]
    )
    planned = GaugeMetricFamily(
        "digest_deliveries_planned", "Digests planned per local date", labels=["local_date"]
    )
    for day, states in operations.deliveries_by_state(since=today - timedelta(DAYS - 1)).items():
        for state, count in states.items():
            by_state.add_metric([day.isoformat(), state], count)
        planned.add_metric([day.isoformat()], sum(states.values()))
    yield from (by_state, planned)


def _ingestion(now) -> Iterator[GaugeMetricFamily]:
    runs = GaugeMetricFamily(
        "digest_ingestion_runs",
        "Ingestion runs kept, by source and status",
        labels=["source", "status"],
    )
    last_run = GaugeMetricFamily(
        "digest_ingestion_last_run_age_seconds", "Since the latest run started", labels=["source"]
    )
    last_success = GaugeMetricFamily(
        "digest_ingestion_last_success_age_seconds",
        "Since the latest successful run finished",
        labels=["source"],
    )
    for source in operations.ingestion_by_source():
        for status, count in source.by_status.items():
            runs.add_metric([source.source, status], count)
        if source.last_started:
            last_run.add_metric([source.source], (now - source.last_started).total_seconds())
        if source.last_success:
            last_success.add_metric([source.source], (now - source.last_success).total_seconds())
    yield from (runs, last_run, last_success)


def _queues() -> Iterator[GaugeMetricFamily]:
    up = GaugeMetricFamily("digest_broker_up", "1 if the Celery broker answered this scrape")
    lengths = GaugeMetricFamily(
        "digest_queue_length", "Messages waiting on each Celery queue", labels=["queue"]
    )
    try:
        counts = operations.queue_lengths()
    except Exception:  # the broker's transport raises its own errors; the rest still reports
        log.warning("metrics: the broker did not answer", exc_info=True)
        up.add_metric([], 0)
    else:
        up.add_metric([], 1)
        for queue, count in counts.items():
            lengths.add_metric([queue], count)
    yield from (up, lengths)


def _readers() -> Iterator[GaugeMetricFamily]:
    readers = GaugeMetricFamily("digest_subscribers", "Readers by status", labels=["status"])
    counts = dict(Subscriber.objects.values_list("status").annotate(n=Count("pk")).order_by())
    for status in Subscriber.Status.values:
        readers.add_metric([status], counts.get(status, 0))
    moderation = GaugeMetricFamily(
        "digest_moderation_queue", "Papers flagged and waiting for an editor"
    )
    moderation.add_metric([], operations.moderation_queue_size())
    yield from (readers, moderation)


class DigestCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        yield from _deliveries(now.date())
        yield from _ingestion(now)
        yield from _queues()
        yield from _readers()


def registry() -> CollectorRegistry:
    """A registry of our metrics alone, appended to django-prometheus's at each scrape; never
    collected at start-up (auto_describe off), when the database may not exist yet."""
    ours = CollectorRegistry(auto_describe=False)
    ours.register(DigestCollector())
    return ours
