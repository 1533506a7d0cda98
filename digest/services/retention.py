"""How long old rows are kept: deliveries, star snapshots and ingestion runs, each for its
retention setting. `manage.py prune` and beat's daily task both come here."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Model, OuterRef, Subquery
from django.utils import timezone

from digest.models import Delivery, IngestionRun, StarSnapshot


@dataclass(frozen=True)
class Pruned:
    deliveries: int
    star_snapshots: int
    ingestion_runs: int


def _days_before(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def _prune_keeping_newest(model: type[Model], *, at: str, per: str, before: datetime) -> int:
    """Rows whose `at` is before `before` go, except the newest of them for each `per`: for a
    repository, the reading that star growth is measured from and, if it was not read since,
    its latest; for a source, its last run from before."""
    old = model.objects.filter(**{f"{at}__lt": before})
    newest_old = old.filter(**{per: OuterRef(per)}).order_by(f"-{at}", "-pk").values("pk")[:1]
    deleted, _ = old.exclude(pk=Subquery(newest_old)).delete()
    return deleted


def prune_deliveries(*, now: datetime) -> int:
    # By local date, as they are planned; their papers (DeliveryItem) go with them.
    before = _days_before(now, settings.DELIVERY_RETENTION_DAYS).date()
    _, by_model = Delivery.objects.filter(local_date__lt=before).delete()
    return by_model.get(Delivery._meta.label, 0)


def prune_old_records(*, now: datetime | None = None) -> Pruned:
    now = now or timezone.now()
    return Pruned(
        deliveries=prune_deliveries(now=now),
        star_snapshots=_prune_keeping_newest(
            StarSnapshot,
            at="taken_at",
            per="code_link",
            before=_days_before(now, settings.STAR_SNAPSHOT_RETENTION_DAYS),
        ),
        ingestion_runs=_prune_keeping_newest(
            IngestionRun,
            at="started_at",
            per="source",
            before=_days_before(now, settings.INGESTION_RUN_RETENTION_DAYS),
        ),
    )
