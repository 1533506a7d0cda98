"""A reader's personal feed (API and RSS/Atom): their own ranking of the latest day, reached
with a secret token shown on their preference page. Replacing the token revokes every URL
that carried the old one."""

import secrets
from dataclasses import dataclass
from datetime import date

from digest.models import Paper, Subscriber
from digest.services.papers import latest_day, visible_papers, with_cards
from digest.services.ranking.digests import pick_papers

# Readers who confirmed and have not left; a paused reader still reads their feed.
FEED_STATES = (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED)


@dataclass(frozen=True)
class PersonalPaper:
    paper: Paper
    score: float
    reason: str


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


def personal_papers(*, subscriber: Subscriber, day: date | None = None) -> list[PersonalPaper]:
    """The reader's picks for `day` (the latest day with papers by default), best first, as
    their digest would rank them: hidden papers and papers already mailed to them left out."""
    day = day or latest_day()
    if day is None:
        return []
    picks = pick_papers(subscriber_ids=[subscriber.pk], day=day)[subscriber.pk]
    papers = with_cards(visible_papers()).in_bulk([pick.paper_id for pick in picks])
    return [
        PersonalPaper(paper=papers[pick.paper_id], score=pick.score, reason=pick.why)
        for pick in picks
        if pick.paper_id in papers
    ]
