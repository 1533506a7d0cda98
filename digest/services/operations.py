"""What operators watch, read in one place for the Prometheus metrics and the admin dashboard:
digests by state per day, the ingestion runs, the moderation queue and the task queues."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Q

from digest.models import Delivery, IngestionRun, Paper

State = Delivery.State
SUCCEEDED = (IngestionRun.Status.OK, IngestionRun.Status.PARTIAL)
DEFAULT_QUEUE = "celery"


def deliveries_by_state(*, since: date) -> dict[date, dict[str, int]]:
    """Digests per local date from `since` on, by state; every state present, 0 if none."""
    rows = (
        Delivery.objects.filter(local_date__gte=since)
        .values_list("local_date", "state")
        .annotate(count=Count("pk"))
        .order_by()
    )
    days: dict[date, dict[str, int]] = {}
    for day, state, count in rows:
        days.setdefault(day, dict.fromkeys(State.values, 0))[state] = count
    return dict(sorted(days.items()))


def sent_per_day(*, today: date, days: int) -> list[tuple[date, int]]:
    """Digests sent on each of the last `days` local dates up to `today`, oldest first, days
    without any included."""
    first = today - timedelta(days=days - 1)
    counts = dict(
        Delivery.objects.filter(local_date__gte=first, local_date__lte=today, state=State.SENT)
        .values_list("local_date")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return [(first + timedelta(n), counts.get(first + timedelta(n), 0)) for n in range(days)]


@dataclass(frozen=True)
class SourceRuns:
    source: str
    by_status: dict[str, int]
    last_started: datetime | None
    last_success: datetime | None


def ingestion_by_source() -> list[SourceRuns]:
    """Each source's kept runs by status, its latest start and its latest success."""
    rows = (
        IngestionRun.objects.values("source")
        .annotate(
            last_started=Max("started_at"),
            last_success=Max("finished_at", filter=Q(status__in=SUCCEEDED)),
            **{status: Count("pk", filter=Q(status=status)) for status in IngestionRun.Status},
        )
        .order_by("source")
    )
    return [
        SourceRuns(
            source=row["source"],
            by_status={status: row[status] for status in IngestionRun.Status.values},
            last_started=row["last_started"],
            last_success=row["last_success"],
        )
        for row in rows
    ]


def latest_runs(*, count: int) -> list[IngestionRun]:
    return list(IngestionRun.objects.order_by("-started_at")[:count])


def moderation_queue_size() -> int:
    """Papers flagged for an editor (a reader's report flags its paper too)."""
    return Paper.objects.filter(flagged=True).count()


def queue_names() -> list[str]:
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    return sorted(routed | {DEFAULT_QUEUE})


def queue_lengths() -> dict[str, int]:
    """Messages waiting on each Celery queue, asked of the broker as a passive declare (Redis
    and the quick start's filesystem broker alike); a queue never declared holds none."""
    from kombu.exceptions import ChannelError

    from tasks import app

    lengths = {}
    with app.connection_for_read(settings.CELERY_BROKER_URL) as connection:
        channel = connection.default_channel
        for name in queue_names():
            try:
                lengths[name] = channel.queue_declare(name, passive=True).message_count
            except ChannelError:
                lengths[name] = 0
    return lengths
