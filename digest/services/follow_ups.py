"""Follow-ups on papers a reader already received: "Code is now out" (they got it without code
and the code has come out since) and "Taking off" (its repository's stars grew sharply since
they got it). Each comes at most once per paper per reader, ever: a past follow-up of that
kind (in a digest that was not a failure) rules it out.

Read in a few queries for a whole batch of readers; `ranking.digests.pick_papers` adds them
after the day's sections. Readers turn either off on their preference page.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from digest.models import Delivery, DeliveryItem, Paper, StarSnapshot, Subscriber

Section = DeliveryItem.Section
# A short section: the most recent news first, at most this many of each kind per digest.
PER_SECTION = 5


@dataclass(frozen=True)
class FollowUp:
    paper_id: str
    section: str
    why: str


def _received(subscribers: list[Subscriber], *, since: datetime):
    """Papers these readers received in a digest that went out since `since`."""
    return DeliveryItem.objects.filter(
        delivery__subscriber__in=subscribers,
        delivery__state=Delivery.State.SENT,
        delivery__sent_at__gte=since,
        paper__hidden=False,
    )


def _followed_up(subscribers: list[Subscriber], section: str) -> set[tuple[int, str]]:
    """(reader, paper) of the follow-ups of this kind already planned or sent."""
    rows = (
        DeliveryItem.objects.filter(delivery__subscriber__in=subscribers, section=section)
        .exclude(delivery__state=Delivery.State.FAILED)
        .values_list("delivery__subscriber_id", "paper_id")
    )
    return set(rows)


def _day(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local.day} {local:%b}"


def _once_each(
    rows: Iterable[tuple[int, str, str]], *, subscribers: list[Subscriber], section: str
) -> dict[int, list[FollowUp]]:
    """(reader, paper, why) in the order given, as follow-ups of one kind: the first
    PER_SECTION of each reader, less the papers they already had this follow-up for."""
    done = _followed_up(subscribers, section)
    found: dict[int, list[FollowUp]] = defaultdict(list)
    for subscriber_id, paper_id, why in rows:
        if (subscriber_id, paper_id) in done or len(found[subscriber_id]) >= PER_SECTION:
            continue
        done.add((subscriber_id, paper_id))
        found[subscriber_id].append(FollowUp(paper_id, section, why))
    return found


def code_out(subscribers: list[Subscriber], *, since: datetime) -> dict[int, list[FollowUp]]:
    """Papers received without code whose code came out after the reader got them, the most
    recent release first."""
    wanting = [s for s in subscribers if s.follow_code_out]
    rows = (
        _received(wanting, since=since)
        .filter(
            paper__code_status=Paper.CodeStatus.RELEASED,
            paper__code_released_at__gt=F("delivery__sent_at"),
        )
        .order_by("-paper__code_released_at", "paper_id")
        .values_list("delivery__subscriber_id", "paper_id", "delivery__sent_at")
    )
    news = (
        (reader, paper, f"You got this paper on {_day(sent)} without code: its code is out now")
        for reader, paper, sent in rows
    )
    return _once_each(news, subscribers=wanting, section=Section.CODE_OUT)


def taking_off(subscribers: list[Subscriber], *, since: datetime) -> dict[int, list[FollowUp]]:
    """Papers received whose repository gained at least TAKING_OFF_MIN_STARS stars, and at
    least TAKING_OFF_FACTOR times what it had, since the reader got them (as our own star
    readings say: a paper with no reading from before is not judged); the biggest gain first."""
    wanting = [s for s in subscribers if s.follow_taking_off]
    seen = StarSnapshot.objects.filter(
        code_link=OuterRef("paper__code_links"), taken_at__lte=OuterRef("delivery__sent_at")
    ).order_by("-taken_at")
    rows = (
        _received(wanting, since=since)
        .filter(paper__code_links__stars__gte=settings.TAKING_OFF_MIN_STARS)
        .annotate(then=Subquery(seen.values("stars")[:1]), now=F("paper__code_links__stars"))
        .filter(then__isnull=False)
        .values_list("delivery__subscriber_id", "paper_id", "delivery__sent_at", "then", "now")
    )
    sharp = sorted(
        (
            (
                now - then,
                reader,
                paper,
                f"★ {then} → {now} on GitHub since you got it on {_day(sent)}",
            )
            for reader, paper, sent, then, now in rows
            if now - then >= settings.TAKING_OFF_MIN_STARS
            and now >= settings.TAKING_OFF_FACTOR * max(then, 1)
        ),
        reverse=True,
    )
    news = ((reader, paper, why) for _, reader, paper, why in sharp)
    return _once_each(news, subscribers=wanting, section=Section.TAKING_OFF)


def follow_ups(*, subscribers: list[Subscriber]) -> dict[int, list[FollowUp]]:
    """Each reader's follow-ups for their next digest: "Code is now out", then "Taking off"
    (a paper in both comes once, as code out)."""
    since = timezone.now() - timedelta(days=settings.FOLLOW_UP_DAYS)
    out, rising = code_out(subscribers, since=since), taking_off(subscribers, since=since)
    result = {}
    for subscriber in subscribers:
        mine = out.get(subscriber.pk, [])
        taken = {item.paper_id for item in mine}
        result[subscriber.pk] = mine + [
            item for item in rising.get(subscriber.pk, []) if item.paper_id not in taken
        ]
    return result
