"""A reader's personal feed (API and RSS/Atom): what their latest digest contained, reached
with a secret token shown on their preference page. Replacing the token revokes every URL
that carried the old one."""

import secrets
from dataclasses import dataclass
from datetime import date

from digest.models import Delivery, DeliveryItem, Paper, Subscriber
from digest.services.papers import visible_papers, with_cards

# Readers who confirmed and have not left; a paused reader still reads their feed.
FEED_STATES = (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED)


@dataclass(frozen=True)
class PersonalPaper:
    paper: Paper
    score: float
    reason: str
    section: str


@dataclass(frozen=True)
class PersonalDigest:
    day: date | None  # None before the reader's first digest
    papers: list[PersonalPaper]


def _store_token(subscriber_id: int) -> str:
    # 256 random bits: unguessable, and a clash with another reader's token never happens.
    token = secrets.token_urlsafe(32)
    Subscriber.objects.filter(pk=subscriber_id).update(feed_token=token)
    return token


def revoke_feed_token(*, subscriber_id: int) -> str:
    """A new token (the first one, from the preference page's button); the old one stops
    working at once. Returns the new one."""
    return _store_token(subscriber_id)


def subscriber_for_feed_token(*, token: str) -> Subscriber | None:
    if not token:
        return None
    return Subscriber.objects.filter(feed_token=token, status__in=FEED_STATES).first()


def latest_digest(*, subscriber: Subscriber) -> PersonalDigest:
    """The reader's latest digest as it was planned (a failed one never reached them), in its
    order, without the papers hidden since."""
    delivery = (
        Delivery.objects.filter(subscriber=subscriber)
        .exclude(state=Delivery.State.FAILED)
        .order_by("-local_date")
        .first()
    )
    if delivery is None:
        return PersonalDigest(day=None, papers=[])
    items = list(DeliveryItem.objects.filter(delivery=delivery).order_by("position"))
    papers = with_cards(visible_papers()).in_bulk([item.paper_id for item in items])
    return PersonalDigest(
        day=delivery.local_date,
        papers=[
            PersonalPaper(
                paper=papers[item.paper_id], score=item.score, reason=item.why, section=item.section
            )
            for item in items
            if item.paper_id in papers
        ],
    )
