"""The operators' alarm, mailed to ADMINS through a real SMTP server on loopback."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from digest.models import Delivery, IngestionRun, Subscriber
from digest.services import alarm
from tasks.maintenance import check_alarms

pytestmark = pytest.mark.django_db
ADMIN = "ops@example.org"
# 11:00 UTC, an hour past the default deadline (ALARM_SEND_DEADLINE_HOUR=10).
NOW = datetime(2026, 6, 12, 11, 0, tzinfo=UTC)
State = Delivery.State


@pytest.fixture
def ops(settings, smtp_server, empty_cache):
    settings.ADMINS = [("Ops", ADMIN)]
    settings.ALARM_SEND_DEADLINE_HOUR = 10
    # A fresh ingestion, so that only the send is in question.
    run = IngestionRun.objects.create(source="arxiv", origin="x", status=IngestionRun.Status.OK)
    IngestionRun.objects.filter(pk=run.pk).update(finished_at=NOW - timedelta(hours=1))
    return smtp_server


def _digest(state: str, *, planned: datetime, email: str = "r@example.org") -> Delivery:
    reader = Subscriber.objects.create(email=email, status=Subscriber.Status.ACTIVE)
    reader.next_digest_at = planned + timedelta(days=1)  # planned: moved to tomorrow
    reader.save()
    digest = Delivery.objects.create(subscriber=reader, local_date=planned.date(), state=state)
    Delivery.objects.filter(pk=digest.pk).update(created_at=planned, claimed_at=planned)
    return digest


def _alarms(sink) -> list[str]:
    return [message["Subject"] for message in sink.to(ADMIN)]


def test_the_alarm_fires_when_the_send_has_not_finished(ops):
    _digest(State.PENDING, planned=NOW.replace(hour=8))
    assert alarm.raise_alarms(now=NOW) == ["digests not sent by 10:00 UTC"]
    (message,) = ops.to(ADMIN)
    assert message["Subject"] == "[digest] digests not sent by 10:00 UTC"
    body = message.get_content()
    assert "Digests planned and still pending or sending" in body
    assert "does the relay accept us?): 1" in body
    # Once a day: the next check says nothing more.
    assert alarm.raise_alarms(now=NOW + timedelta(minutes=15)) == []
    assert len(ops.to(ADMIN)) == 1


def test_the_alarm_stays_quiet_when_the_send_has_finished(ops):
    _digest(State.SENT, planned=NOW.replace(hour=8))
    assert alarm.raise_alarms(now=NOW) == []
    assert ops.to(ADMIN) == []


def test_the_beat_task_checks_the_present(ops, settings):
    settings.ALARM_SEND_DEADLINE_HOUR = 0
    now = timezone.now()
    IngestionRun.objects.update(finished_at=now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    _digest(State.SENDING, planned=midnight - timedelta(hours=1))
    assert check_alarms.apply().get() == ["digests not sent by 00:00 UTC"]
    assert len(ops.to(ADMIN)) == 1


def test_the_alarm_waits_for_the_deadline(ops):
    _digest(State.PENDING, planned=NOW.replace(hour=8))
    assert alarm.raise_alarms(now=NOW.replace(hour=9, minute=59)) == []
    assert ops.to(ADMIN) == []


def test_readers_due_that_no_run_planned_mean_the_scheduler_is_not_running(ops):
    Subscriber.objects.create(
        email="due@example.org",
        status=Subscriber.Status.ACTIVE,
        next_digest_at=NOW.replace(hour=8),
    )
    # A reader due after the deadline, or just before it, is no sign of trouble yet.
    for email, due in [("later@example.org", 18), ("just@example.org", 9)]:
        Subscriber.objects.create(
            email=email,
            status=Subscriber.Status.ACTIVE,
            next_digest_at=NOW.replace(hour=due, minute=45),
        )
    assert alarm.raise_alarms(now=NOW) == ["digests not sent by 10:00 UTC"]
    assert "never planned (is beat running?): 1" in ops.to(ADMIN)[0].get_content()


def test_no_successful_ingestion_for_hours_fires(ops, settings):
    settings.ALARM_INGESTION_MAX_AGE_HOURS = 6
    IngestionRun.objects.update(finished_at=NOW - timedelta(hours=7))
    failed = IngestionRun.objects.create(
        source="hf", origin="y", status=IngestionRun.Status.FAILED, error="HTTP 503 from upstream"
    )
    IngestionRun.objects.filter(pk=failed.pk).update(started_at=NOW - timedelta(hours=1))
    assert alarm.raise_alarms(now=NOW) == ["no ingestion succeeded for 6 hours"]
    body = ops.to(ADMIN)[0].get_content()
    assert "2026-06-12 04:00 UTC" in body and "HTTP 503 from upstream" in body


def test_a_high_failure_rate_fires(ops, settings):
    settings.ALARM_FAILURE_RATE, settings.ALARM_FAILURE_MIN_DIGESTS = 0.1, 10
    planned = NOW.replace(hour=7)
    for i in range(8):
        _digest(State.SENT, planned=planned, email=f"ok{i}@example.org")
    for i in range(2):
        _digest(State.FAILED, planned=planned, email=f"bad{i}@example.org")
    assert alarm.raise_alarms(now=NOW) == ["2 of 10 digests failed in the last day"]
    # One failure in ten is within the threshold.
    Delivery.objects.filter(subscriber__email="bad0@example.org").update(state=State.SENT)
    assert alarm.troubles(now=NOW) == []
