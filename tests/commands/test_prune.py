"""`manage.py prune` and its daily beat task: old deliveries, star snapshots and ingestion
runs go; what star growth, the already-sent history and the admin still need stays."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from digest.models import (
    CodeLink,
    Delivery,
    DeliveryItem,
    IngestionRun,
    Paper,
    StarSnapshot,
    Subscriber,
    TrendingScore,
)
from digest.services.sources.fetch import replay
from digest.services.trending import recompute_trending
from tasks.maintenance import prune_old_records
from tests.conftest import HF_DAILY

pytestmark = pytest.mark.django_db
NOW = timezone.now()
DAY = timedelta(days=1)


@pytest.fixture
def retention(settings):
    settings.DELIVERY_RETENTION_DAYS = 90
    settings.STAR_SNAPSHOT_RETENTION_DAYS = 30
    settings.INGESTION_RUN_RETENTION_DAYS = 90


@pytest.fixture
def hf_day(db):
    replay(paths=[HF_DAILY])
    return CodeLink.objects.order_by("pk")


def _snapshots(link: CodeLink, *readings: tuple[timedelta, int]) -> None:
    """These readings, oldest first, in place of the one the replay took just now."""
    link.snapshots.all().delete()
    StarSnapshot.objects.bulk_create(
        StarSnapshot(code_link=link, stars=stars, taken_at=NOW - age) for age, stars in readings
    )
    link.stars, link.stars_checked_at = readings[-1][1], NOW - readings[-1][0]
    link.save()
    # A paper of yesterday, so that trending scores it at every run.
    Paper.objects.filter(pk=link.paper_id).update(published=NOW - DAY)


def _star_growth(link: CodeLink) -> float:
    recompute_trending(now=NOW)
    return TrendingScore.objects.get(paper_id=link.paper_id).parts["star_growth"]


def test_old_star_snapshots_go_but_star_growth_and_each_latest_reading_stay(
    hf_day, retention, capsys
):
    busy, idle = hf_day[0], hf_day[1]
    _snapshots(
        busy,
        (60 * DAY, 50),
        (40 * DAY, 60),
        (35 * DAY, 70),
        (2 * DAY, 100),
        (1.5 * DAY, 110),
        (timedelta(hours=1), 120),
    )
    _snapshots(idle, (50 * DAY, 5), (45 * DAY, 7))  # not read since
    growth = _star_growth(busy)
    assert growth > 0

    call_command("prune")

    assert "3 star snapshots" in capsys.readouterr().out
    assert _star_growth(busy) == growth
    assert sorted(busy.snapshots.values_list("stars", flat=True)) == [70, 100, 110, 120]
    assert list(idle.snapshots.values_list("stars", flat=True)) == [7]


def _delivery(reader: Subscriber, paper: Paper, *, days_ago: int) -> Delivery:
    sent = Delivery.objects.create(
        subscriber=reader, local_date=NOW.date() - timedelta(days=days_ago), state="sent"
    )
    DeliveryItem.objects.create(delivery=sent, paper=paper, position=0, score=1.0, why="-")
    return sent


def test_deliveries_past_their_retention_go_with_their_papers(hf_day, retention, capsys):
    reader = Subscriber.objects.create(email="r@example.org", status="active")
    paper = Paper.objects.first()
    for days_ago in (200, 91):
        _delivery(reader, paper, days_ago=days_ago)
    recent = _delivery(reader, paper, days_ago=90)

    call_command("prune")

    assert "2 deliveries" in capsys.readouterr().out
    assert list(reader.deliveries.all()) == [recent]
    assert list(DeliveryItem.objects.values_list("delivery", flat=True)) == [recent.pk]


def _run(source: str, *, days_ago: int) -> IngestionRun:
    run = IngestionRun.objects.create(source=source, origin="x", status="ok")
    IngestionRun.objects.filter(pk=run.pk).update(started_at=NOW - days_ago * DAY)
    return run


def test_old_ingestion_runs_go_but_each_source_keeps_its_latest(db, retention, capsys):
    _run("arxiv", days_ago=120)
    kept = [_run("arxiv", days_ago=95), _run("arxiv", days_ago=1), _run("hf", days_ago=200)]

    call_command("prune")

    assert "1 ingestion run" in capsys.readouterr().out
    assert set(IngestionRun.objects.all()) == set(kept)


def test_beat_prunes_every_day(db, retention):
    _run("arxiv", days_ago=400)
    _run("arxiv", days_ago=300)
    schedule = settings.CELERY_BEAT_SCHEDULE["prune-old-records"]
    assert schedule == {"task": prune_old_records.name, "schedule": 24 * 3600.0}
    prune_old_records.apply().get()
    assert IngestionRun.objects.count() == 1


def test_the_summary_names_each_setting(db, retention, capsys):
    call_command("prune")
    assert capsys.readouterr().out.splitlines() == [
        "0 deliveries pruned (DELIVERY_RETENTION_DAYS=90)",
        "0 star snapshots pruned (STAR_SNAPSHOT_RETENTION_DAYS=30)",
        "0 ingestion runs pruned (INGESTION_RUN_RETENTION_DAYS=90)",
    ]
