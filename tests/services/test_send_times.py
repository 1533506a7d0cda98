"""When each reader's digest goes out across changes of time zone, DST and empty days: the
scheduled run, as beat calls it, over a simulated clock."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from digest.models import Delivery, Subscriber
from digest.services import delivery, subscriptions
from digest.services.subscriptions import Preferences

pytestmark = pytest.mark.django_db
TOKYO = Preferences(
    interests="LLM agents", categories=[], delivery_hour=8, timezone="Asia/Tokyo", digest_size=3
)
LOS_ANGELES = replace(TOKYO, timezone="America/Los_Angeles")


def _at(day: int, hour: int, minute: int = 0, *, month: int = 6) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def _reader(email: str, preferences: Preferences, *, now: datetime, monkeypatch) -> Subscriber:
    """A reader who signs up and confirms at `now`, as through the pages."""
    monkeypatch.setattr(timezone, "now", lambda: now)
    signup = subscriptions.subscribe(email=email, preferences=preferences)
    return subscriptions.confirm(
        token=subscriptions.confirm_token(subscriber_id=signup.subscriber_id)
    )


def _move(reader: Subscriber, preferences: Preferences, *, now: datetime, monkeypatch) -> None:
    monkeypatch.setattr(timezone, "now", lambda: now)
    subscriptions.update_preferences(subscriber_id=reader.pk, preferences=preferences)


def _runs(*, start: datetime, end: datetime, every: timedelta) -> dict[date, datetime]:
    """The scheduled run every `every` from `start` to `end`: when each digest it planned
    was planned, by date."""
    before = set(Delivery.objects.values_list("local_date", flat=True))
    planned: dict[date, datetime] = {}
    now = start
    while now <= end:
        delivery.schedule(now=now)
        for day in Delivery.objects.values_list("local_date", flat=True):
            if day not in before:
                planned.setdefault(day, now)
        now += every
    return planned


def test_moving_west_after_todays_digest_gives_no_second_one(corpus, redis_cache, monkeypatch):
    reader = _reader("ada@example.org", TOKYO, now=_at(12, 20), monkeypatch=monkeypatch)
    # 08:00 on the 13th in Tokyo is 23:00 UTC on the 12th.
    assert _runs(start=_at(12, 22, 30), end=_at(12, 23, 30), every=timedelta(hours=1)) == {
        date(2026, 6, 13): _at(12, 23, 30)
    }
    # An hour later she lands in Los Angeles, where it is 17:30 on the 12th.
    _move(reader, LOS_ANGELES, now=_at(13, 0, 30), monkeypatch=monkeypatch)
    later = _runs(start=_at(13, 0, 30), end=_at(15, 0, 30), every=timedelta(hours=1))
    # Nothing more on the 12th or 13th; the next date's digest at 08:00 in Los Angeles.
    assert later == {date(2026, 6, 14): _at(14, 15, 30)}


def test_moving_east_loses_no_day(corpus, redis_cache, monkeypatch):
    reader = _reader("ada@example.org", LOS_ANGELES, now=_at(12, 12), monkeypatch=monkeypatch)
    # 08:00 on the 12th in Los Angeles is 15:00 UTC.
    assert _runs(start=_at(12, 14, 30), end=_at(12, 15, 30), every=timedelta(hours=1)) == {
        date(2026, 6, 12): _at(12, 15, 30)
    }
    # She lands in Tokyo at noon on the 13th, past her hour there: the 13th's digest comes
    # at once, the 14th's at 08:00 Tokyo time.
    _move(reader, TOKYO, now=_at(13, 3), monkeypatch=monkeypatch)
    later = _runs(start=_at(13, 3, 30), end=_at(14, 3, 30), every=timedelta(hours=1))
    assert later == {date(2026, 6, 13): _at(13, 3, 30), date(2026, 6, 14): _at(13, 23, 30)}


@pytest.mark.parametrize(
    ("zone", "hour", "start", "expected"),
    [
        # Berlin goes from UTC+1 to UTC+2 on 29 March 2026: 08:00 is 07:00 UTC, then 06:00.
        (
            "Europe/Berlin",
            8,
            _at(28, 6, month=3),
            {28: _at(28, 7, month=3), 29: _at(29, 6, month=3)},
        ),
        # New York has no 02:00 on 8 March 2026: that digest goes at 03:00 local (07:00 UTC).
        (
            "America/New_York",
            2,
            _at(7, 6, month=3),
            {7: _at(7, 7, month=3), 8: _at(8, 7, month=3), 9: _at(9, 6, month=3)},
        ),
        # Berlin's 02:00 happens twice on 25 October 2026: one digest, the first time.
        ("Europe/Berlin", 2, _at(24, 23, month=10), {25: _at(25, 0, month=10)}),
    ],
)
def test_dst_changes_neither_skip_nor_double_a_digest(
    corpus, redis_cache, monkeypatch, zone, hour, start, expected
):
    preferences = replace(TOKYO, timezone=zone, delivery_hour=hour)
    _reader("ada@example.org", preferences, now=start, monkeypatch=monkeypatch)
    end = max(expected.values()) + timedelta(hours=1)
    planned = _runs(start=start, end=end, every=timedelta(hours=1))
    assert {day.day: at for day, at in planned.items()} == expected


def test_a_reader_with_nothing_to_read_is_ranked_once_a_day(db, redis_cache, monkeypatch):
    # No papers at all: every digest is empty.
    _reader(
        "ada@example.org", replace(TOKYO, timezone="UTC"), now=_at(12, 0), monkeypatch=monkeypatch
    )
    ranked = []
    pick = delivery.pick_papers

    def counting(*, day: date, **rest: object) -> dict:
        ranked.append(day)
        return pick(day=day, **rest)

    monkeypatch.setattr(delivery, "pick_papers", counting)
    _runs(start=_at(12, 8), end=_at(13, 9), every=timedelta(minutes=10))
    assert ranked == [date(2026, 6, 12), date(2026, 6, 13)]
    # Nothing was recorded for those days that a later digest of the day would clash with.
    assert not Delivery.objects.exists()


def test_weekly_readers_get_one_digest_a_week_on_their_day(corpus, redis_cache, monkeypatch):
    # Signed up on Monday 8 June for Fridays (12 and 19 June); a daily reader beside them.
    weekly = replace(TOKYO, timezone="UTC", digest_weekday=4)
    reader = _reader("weekly@example.org", weekly, now=_at(8, 6), monkeypatch=monkeypatch)
    daily = _reader(
        "daily@example.org",
        replace(weekly, digest_weekday=None),
        now=_at(8, 6),
        monkeypatch=monkeypatch,
    )
    _runs(start=_at(8, 6, 30), end=_at(20, 23, 30), every=timedelta(hours=6))
    sent = Delivery.objects.filter(subscriber=reader).order_by("local_date")
    assert list(sent.values_list("local_date", flat=True)) == [
        date(2026, 6, 12),
        date(2026, 6, 19),
    ]
    daily_days = Delivery.objects.filter(subscriber=daily).values_list("local_date", flat=True)
    assert len(daily_days) > 2
    reader.refresh_from_db()
    assert reader.next_digest_at == _at(26, 8)


def test_a_reader_turning_weekly_waits_for_their_day(corpus, redis_cache, monkeypatch):
    daily = replace(TOKYO, timezone="UTC")
    reader = _reader("ada@example.org", daily, now=_at(8, 6), monkeypatch=monkeypatch)
    # Monday's digest went out; on Tuesday she asks for Thursdays only.
    assert set(_runs(start=_at(8, 8, 30), end=_at(8, 9), every=timedelta(hours=1))) == {
        date(2026, 6, 8)
    }
    _move(reader, replace(daily, digest_weekday=3), now=_at(9, 7), monkeypatch=monkeypatch)
    reader.refresh_from_db()
    assert reader.next_digest_at == _at(11, 8)
    later = _runs(start=_at(9, 7), end=_at(12, 23), every=timedelta(hours=1))
    assert later == {date(2026, 6, 11): _at(11, 8)}


def test_first_send_day():
    from digest.services.send_times import first_send_day

    friday = date(2026, 6, 12)
    assert first_send_day(day=friday, weekday=None) == friday
    assert first_send_day(day=friday, weekday=4) == friday
    assert first_send_day(day=friday, weekday=3) == date(2026, 6, 18)
    assert first_send_day(day=friday, weekday=0) == date(2026, 6, 15)


def test_a_weekly_reader_changing_their_day_gets_the_nearest_one(corpus, redis_cache, monkeypatch):
    fridays = replace(TOKYO, timezone="UTC", digest_weekday=4)
    reader = _reader("ada@example.org", fridays, now=_at(12, 6), monkeypatch=monkeypatch)
    assert set(_runs(start=_at(12, 8, 30), end=_at(12, 9), every=timedelta(hours=1))) == {
        date(2026, 6, 12)
    }
    # On Saturday she moves to Mondays: the coming Monday, not the one after next Friday.
    _move(reader, replace(fridays, digest_weekday=0), now=_at(13, 10), monkeypatch=monkeypatch)
    reader.refresh_from_db()
    assert reader.next_digest_at == _at(15, 8)
