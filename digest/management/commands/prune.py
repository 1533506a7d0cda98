"""python manage.py prune: delete deliveries, star snapshots and ingestion runs older than
their retention settings (beat runs the same every day)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from digest.services.retention import prune_old_records

SETTINGS = {
    "deliveries": "DELIVERY_RETENTION_DAYS",
    "star_snapshots": "STAR_SNAPSHOT_RETENTION_DAYS",
    "ingestion_runs": "INGESTION_RUN_RETENTION_DAYS",
}


class Command(BaseCommand):
    help = "Delete old deliveries, star snapshots and ingestion runs (see *_RETENTION_DAYS)."

    def handle(self, *args, **options) -> None:
        pruned = prune_old_records()
        for field, setting in SETTINGS.items():
            count, name = getattr(pruned, field), field.replace("_", " ")
            self.stdout.write(f"{count} {name} pruned ({setting}={getattr(settings, setting)})")
