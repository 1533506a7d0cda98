"""Follow-ups on papers a reader already received: "Code is now out" (they got it without code
and the code has come out since) and "Taking off" (its repository's stars grew sharply since
they got it). Each comes at most once per paper per reader, ever: a past follow-up of that
kind (in a digest that was not a failure) rules it out.

Read in a few queries for a whole batch of readers; `ranking.digests.pick_papers` adds them
after the day's sections. Readers turn either off on their preference page.
"""

from collections import defaultdict
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
    return f"{timezone.localtime(moment):%-d %b}"


def code_out(subscribers: list[Subscriber], *, since: datetime) -> dict[int, list[FollowUp]]:
    """Papers received without code whose code came out after the reader got them."""
    wanting = [s for s in subscribers if s.follow_code_out]
    done = _followed_up(wanting, Section.CODE_OUT)
    rows = (
        _received(wanting, since=since)
        .filter(
            paper__code_status=Paper.CodeStatus.RELEASED,
            paper__code_released_at__gt=F("delivery__sent_at"),
        )
        .order_by("-paper__code_released_at", "paper_id")
        .values_list("delivery__subscriber_id", "paper_id", "delivery__sent_at")
    )
    found: dict[int, list[FollowUp]] = defaultdict(list)
    for subscriber_id, paper_id, sent_at in rows:
        if (subscriber_id, paper_id) in done or len(found[subscriber_id]) >= PER_SECTION:
            continue
        done.add((subscriber_id, paper_id))
        why = f"You got this paper on {_day(sent_at)} without code: its code is out now"
        found[subscriber_id].append(FollowUp(paper_id, Section.CODE_OUT, why))
    return found


def taking_off(subscribers: list[Subscriber], *, since: datetime) -> dict[int, list[FollowUp]]:
    """Papers received whose repository gained at least TAKING_OFF_MIN_STARS stars, and at
    least TAKING_OFF_FACTOR times what it had, since the reader got them (as our own star
    readings say: a paper with no reading from before is not judged)."""
    wanting = [s for s in subscribers if s.follow_taking_off]
    done = _followed_up(wanting, Section.TAKING_OFF)
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
    growth = []
    for subscriber_id, paper_id, sent_at, then, now in rows:
        sharp = now - then >= settings.TAKING_OFF_MIN_STARS and now >= (
            settings.TAKING_OFF_FACTOR * max(then, 1)
        )
        if sharp:
            growth.append((now - then, subscriber_id, paper_id, sent_at, then, now))
    found: dict[int, list[FollowUp]] = defaultdict(list)
    for _, subscriber_id, paper_id, sent_at, then, now in sorted(growth, reverse=True):
        if (subscriber_id, paper_id) in done or len(found[subscriber_id]) >= PER_SECTION:
            continue
        done.add((subscriber_id, paper_id))
        why = f"★ {then} → {now} on GitHub since you got it on {_day(sent_at)}"
        found[subscriber_id].append(FollowUp(paper_id, Section.TAKING_OFF, why))
    return found


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
