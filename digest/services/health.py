"""What `/health/` checks, beside django-health-check's own database and cache checks: the
Celery broker, the embedding model and the free disk under the outbox. Each raises
ServiceUnavailable with a line an operator can act on; the page names the failing check."""

import dataclasses
import datetime
import shutil
from pathlib import Path

from django.conf import settings
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

from digest.services.embedding.embedder import resolve_model_path

# Files a sentence-transformers model folder has (one of them is enough).
MODEL_FILES = ("modules.json", "config.json")


@dataclasses.dataclass
class Broker(HealthCheck):
    """The Celery broker takes a connection: the scheduler's and the signup's tasks get queued.
    A worker being up is another matter (queue lengths in /metrics tell that)."""

    timeout: datetime.timedelta = dataclasses.field(
        default=datetime.timedelta(seconds=3), repr=False
    )

    def run(self) -> None:
        from tasks import app

        try:
            with app.connection_for_write(settings.CELERY_BROKER_URL) as connection:
                connection.ensure_connection(
                    max_retries=1, interval_start=0, timeout=self.timeout.total_seconds()
                )
        except Exception as exc:  # kombu raises its transport's own errors
            raise ServiceUnavailable(f"broker unreachable: {type(exc).__name__}") from exc


@dataclasses.dataclass
class EmbeddingModel(HealthCheck):
    """The embedding model's files are where ranking and search will load them from. Loading
    it here would cost seconds and a hundred megabytes in every web process."""

    def run(self) -> None:
        name = settings.DIGEST_EMBEDDING_MODEL
        folder = Path(resolve_model_path(name))
        if folder.is_dir():
            if not any((folder / file).exists() for file in MODEL_FILES):
                raise ServiceUnavailable(f"no model files in {folder}")
            return
        # A hub name: offline (HF_HUB_OFFLINE), it must be in the local cache.
        from huggingface_hub import try_to_load_from_cache

        if not any(isinstance(try_to_load_from_cache(name, file), str) for file in MODEL_FILES):
            raise ServiceUnavailable(f"model {name!r} is neither a folder nor in the cache")


@dataclasses.dataclass
class OutboxDisk(HealthCheck):
    """Free space on the disk that holds the outbox (the file backend's messages, the dry
    runs): below HEALTH_MIN_FREE_DISK_MB writing mail would fail."""

    def run(self) -> None:
        folder = Path(settings.EMAIL_FILE_PATH)
        # The folder is made on the first message; its disk is that of its nearest parent.
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        free_mb = shutil.disk_usage(folder).free / 2**20
        if free_mb < settings.HEALTH_MIN_FREE_DISK_MB:
            raise ServiceUnavailable(
                f"{free_mb:.0f} MB free under {folder}, "
                f"below HEALTH_MIN_FREE_DISK_MB={settings.HEALTH_MIN_FREE_DISK_MB}"
            )


CHECKS = [
    "health_check.checks.Database",
    "health_check.checks.Cache",
    Broker,
    EmbeddingModel,
    OutboxDisk,
]
