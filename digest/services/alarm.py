"""The operators' alarm: "the job ran but no email arrived" found the same morning by the
admins (Django's ADMINS), not days later by the readers.

Beat runs `raise_alarms` every few minutes; each trouble is mailed once a day:
- the send has not finished by ALARM_SEND_DEADLINE_HOUR (UTC): readers due by half an hour
  before then whom no run planned (the scheduler is not running), or digests planned by then
  and still waiting or sending (no worker, a relay refusing us);
- no ingestion succeeded for ALARM_INGESTION_MAX_AGE_HOURS;
- more than ALARM_FAILURE_RATE of the last day's digests failed or need review.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.mail import mail_admins
from django.db.models import Count, Q

from digest.models import Delivery, IngestionRun, Subscriber

State = Delivery.State
FAILURE_WINDOW = timedelta(days=1)
# Only what was due this long before the deadline counts: a reader due a minute before it
# cannot have had their digest by then.
DEADLINE_MARGIN = timedelta(minutes=30)
# The once-a-day mark outlives the day it is for, whatever the hour it was set.
MARK_SECONDS = 2 * 24 * 3600


@dataclass(frozen=True)
class Trouble:
    # One email per kind of trouble per day.
    kind: str
    subject: str
    body: str


def _unfinished_send(now: datetime) -> Trouble | None:
    deadline = datetime.combine(now.date(), time(settings.ALARM_SEND_DEADLINE_HOUR), now.tzinfo)
    if now < deadline:
        return None
    due_by = deadline - DEADLINE_MARGIN
    unplanned = Subscriber.objects.filter(
        status=Subscriber.Status.ACTIVE, next_digest_at__lte=due_by
    ).count()
    waiting = Delivery.objects.filter(
        state__in=[State.PENDING, State.SENDING], created_at__lte=due_by
    ).count()
    if not unplanned and not waiting:
        return None
    return Trouble(
        kind="send",
        subject=f"digests not sent by {deadline:%H:%M} UTC",
        body=(
            f"At {now:%Y-%m-%d %H:%M} UTC the send due by {deadline:%H:%M} UTC has not "
            f"finished.\n\n"
            f"Readers due but never planned (is beat running?): {unplanned}\n"
            f"Digests planned and still pending or sending (are the mail workers running? "
            f"does the relay accept us?): {waiting}\n"
        ),
    )


def _stale_ingestion(now: datetime) -> Trouble | None:
    since = now - timedelta(hours=settings.ALARM_INGESTION_MAX_AGE_HOURS)
    succeeded = [IngestionRun.Status.OK, IngestionRun.Status.PARTIAL]
    if IngestionRun.objects.filter(status__in=succeeded, finished_at__gte=since).exists():
        return None
    last = IngestionRun.objects.filter(status__in=succeeded).order_by("-finished_at").first()
    when = f"{last.finished_at:%Y-%m-%d %H:%M} UTC" if last else "never"
    failed = IngestionRun.objects.filter(started_at__gte=since).exclude(status__in=succeeded)
    return Trouble(
        kind="ingestion",
        subject=f"no ingestion succeeded for {settings.ALARM_INGESTION_MAX_AGE_HOURS} hours",
        body=(
            f"The last successful ingestion run finished: {when}.\n"
            f"Runs since then that failed or are still running: {failed.count()}\n"
            f"Their latest error: {_latest_error(failed) or '-'}\n"
        ),
    )


def _latest_error(runs) -> str | None:
    return runs.exclude(error="").order_by("-started_at").values_list("error", flat=True).first()


def _failure_rate(now: datetime) -> Trouble | None:
    counts = Delivery.objects.filter(created_at__gte=now - FAILURE_WINDOW).aggregate(
        done=Count("pk", filter=Q(state__in=[State.SENT, State.FAILED, State.AMBIGUOUS])),
        bad=Count("pk", filter=Q(state__in=[State.FAILED, State.AMBIGUOUS])),
    )
    done, bad = counts["done"], counts["bad"]
    if done < settings.ALARM_FAILURE_MIN_DIGESTS or bad <= settings.ALARM_FAILURE_RATE * done:
        return None
    return Trouble(
        kind="failures",
        subject=f"{bad} of {done} digests failed in the last day",
        body=(
            f"{bad} of the {done} digests tried since {now - FAILURE_WINDOW:%Y-%m-%d %H:%M} UTC "
            f"failed or need review (threshold {settings.ALARM_FAILURE_RATE:.0%}).\n"
            f"Their errors are on the deliveries in the admin.\n"
        ),
    )


def troubles(*, now: datetime) -> list[Trouble]:
    found = (check(now) for check in (_unfinished_send, _stale_ingestion, _failure_rate))
    return [trouble for trouble in found if trouble is not None]


def raise_alarms(*, now: datetime) -> list[str]:
    """Mail the admins each trouble not yet mailed today; returns the subjects mailed."""
    mailed = []
    for trouble in troubles(now=now):
        mark = f"alarm:{trouble.kind}:{now.date()}"
        if cache.get(mark) is None:
            # Marked once sent: an alarm the mail server refused is tried again next time.
            mail_admins(trouble.subject, trouble.body + f"\n{settings.SITE_URL}\n")
            cache.set(mark, 1, MARK_SECONDS)
            mailed.append(trouble.subject)
    return mailed
