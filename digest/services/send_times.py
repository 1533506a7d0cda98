"""When each reader's next digest goes out, stored as a UTC instant (`Subscriber.next_digest_at`).

As healthchecks does with `next_report_date`: the scheduler reads the readers whose instant
has passed through an index instead of working out everyone's local clock, and the instant
is recomputed when it must move: after a digest day is planned, when the delivery hour or
time zone changes, on confirmation and on resume. The local date of that instant, in the
reader's zone, is the date of the digest it sends; at most one digest goes out per date.
"""

import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # The forms store valid names only; one bad row must not stop everyone's digest.
        log.warning("unknown time zone %r, using UTC", name)
        return ZoneInfo("UTC")


def local_date(*, instant: datetime, zone_name: str) -> date:
    return instant.astimezone(zone(zone_name)).date()


def send_at(*, day: date, hour: int, zone_name: str) -> datetime:
    """`hour` o'clock on `day` in the zone, as a UTC instant. An hour that a DST change skips
    (02:00 when clocks go forward) comes out an hour later; one that happens twice, the first
    time (zoneinfo's fold=0)."""
    return datetime.combine(day, time(hour), tzinfo=zone(zone_name)).astimezone(UTC)


def first_send_day(*, day: date, weekday: int | None) -> date:
    """The first date from `day` on that brings a digest: every date for a daily reader, the
    reader's weekday (0 = Monday) for a weekly one."""
    if weekday is None:
        return day
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def next_send_at(
    *,
    planned: datetime | None,
    planned_zone: str,
    hour: int,
    zone_name: str,
    now: datetime,
    weekday: int | None = None,
) -> datetime:
    """The send instant after a change of delivery hour, zone or frequency (or a return from
    a pause): the date that was due next keeps its turn, in the new zone and at the new hour,
    unless it is already past there. So moving west after today's digest gives no second one
    today, and moving east skips no date: the next one may be due at once. A weekly reader's
    turn moves on to their weekday."""
    today = local_date(instant=now, zone_name=zone_name)
    day = (
        today
        if planned is None
        else max(today, local_date(instant=planned, zone_name=planned_zone))
    )
    return send_at(day=first_send_day(day=day, weekday=weekday), hour=hour, zone_name=zone_name)


def after_day(
    *, day: date, planned: datetime | None, hour: int, zone_name: str, weekday: int | None = None
) -> datetime:
    """The send instant once the digest of `day` is planned (or found empty): the next send
    date's hour (tomorrow, or a week on for a weekly reader), never earlier than what was
    already planned (a digest of a past day sent by hand must not bring back today's)."""
    following = send_at(
        day=first_send_day(day=day + timedelta(days=1), weekday=weekday),
        hour=hour,
        zone_name=zone_name,
    )
    return following if planned is None else max(planned, following)
