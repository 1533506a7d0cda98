"""What a relay (Amazon SES, Postmark, Mailgun...) reports after it accepted a digest, through
django-anymail's tracking and inbound webhooks.

A relay accepts a message and learns later that it bounced or that the reader pressed "spam".
A hard bounce or a complaint stops all mail to the address at once (Gmail's and Yahoo's bulk
sender rules: complaints and unsubscribes honoured within two days; mailing a dead address
again hurts the sender's reputation); a soft bounce counts towards the pause after repeated
failures, and a delivery starts that count again. Mail to the List-Unsubscribe `mailto:`
address of a reader, handed over by the inbound webhook, unsubscribes that reader.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from anymail.signals import EventType, RejectReason

from digest.models import Subscriber
from digest.services import delivery, subscriptions

Unsubscribed = Subscriber.Unsubscribed
# Anymail reports Postmark's SoftBounce and Brevo's soft_bounce as "bounced" ("might also
# receive HardBounce later"), and SendGrid's "blocked" bounce too: only the relay's own
# event type (RELAY_TYPE_FIELDS of its payload) tells them apart.
SOFT_BOUNCE_TYPES = frozenset({"SoftBounce", "soft_bounce", "blocked"})
# Postmark's "Type", Brevo's "event", SendGrid's bounce "type".
RELAY_TYPE_FIELDS = ("Type", "event", "type")
DETAIL_LIMIT = 1000


class Verdict(StrEnum):
    HARD_BOUNCE = "hard-bounce"
    SOFT_BOUNCE = "soft-bounce"
    COMPLAINT = "complaint"
    # The relay itself stopped mailing the address (its own unsubscribe).
    SUPPRESSED = "suppressed"
    DELIVERED = "delivered"
    # Opens, clicks, queued, sent...: nothing a reader's mail depends on.
    NOTHING = "nothing"


REJECTED = {
    RejectReason.BOUNCED: Verdict.HARD_BOUNCE,
    RejectReason.INVALID: Verdict.HARD_BOUNCE,
    RejectReason.SPAM: Verdict.COMPLAINT,
    RejectReason.UNSUBSCRIBED: Verdict.SUPPRESSED,
    # A policy block: often of our mail, not the address (our IP's reputation, our DMARC: a
    # block for every reader at that provider), so it counts towards the pause, which the
    # reader or an admin can lift, never an unsubscription.
    RejectReason.BLOCKED: Verdict.SOFT_BOUNCE,
}
UNSUBSCRIBED_BECAUSE = {
    Verdict.HARD_BOUNCE: Unsubscribed.HARD_BOUNCE,
    Verdict.COMPLAINT: Unsubscribed.COMPLAINT,
    Verdict.SUPPRESSED: Unsubscribed.RELAY,
}


def relay_names(*, esp_event: object) -> frozenset[str]:
    """The relay's own names for an event, from its payload (pure)."""
    if not isinstance(esp_event, dict):
        return frozenset()
    return frozenset(
        value for value in map(esp_event.get, RELAY_TYPE_FIELDS) if isinstance(value, str)
    )


def verdict(*, event_type: str, reject_reason: str | None, relay_names: frozenset[str]) -> Verdict:
    """What an anymail tracking event means for the reader's mail (pure)."""
    if event_type == EventType.COMPLAINED:
        return Verdict.COMPLAINT
    if event_type == EventType.BOUNCED:
        soft = relay_names & SOFT_BOUNCE_TYPES
        return Verdict.SOFT_BOUNCE if soft else Verdict.HARD_BOUNCE
    if event_type == EventType.DEFERRED:
        return Verdict.SOFT_BOUNCE
    if event_type == EventType.REJECTED:
        return REJECTED.get(reject_reason, Verdict.NOTHING)
    if event_type == EventType.UNSUBSCRIBED:
        return Verdict.SUPPRESSED
    if event_type == EventType.DELIVERED:
        return Verdict.DELIVERED
    return Verdict.NOTHING


@dataclass(frozen=True)
class RelayEvent:
    relay: str
    recipient: str
    verdict: Verdict
    # The relay's description and the receiving server's reply, for the reader's record.
    detail: str
    # When it happened, as the relay says (None: it does not say).
    at: datetime | None = None


def record_event(*, event: RelayEvent) -> None:
    """Apply one tracking event to the reader at its address (none: a stranger's address, a
    reader who deleted their data, or one who confirmed the address after the event; nothing
    to do)."""
    if event.verdict == Verdict.NOTHING:
        return
    email = event.recipient.strip().lower()
    readers = Subscriber.objects.filter(email=email)
    if event.at is not None:
        # Older than the reader's confirmation (a relay's retry hours later, a replayed
        # call): about mail to the address before they vouched for it again.
        readers = readers.exclude(confirmed_at__gt=event.at)
    reader = readers.values_list("pk", flat=True).first()
    if reader is None:
        return
    if event.verdict in UNSUBSCRIBED_BECAUSE:
        detail = f"{event.relay}: {event.detail}".strip(": ")[:DETAIL_LIMIT]
        subscriptions.unsubscribe(
            subscriber_id=reader, because=UNSUBSCRIBED_BECAUSE[event.verdict], detail=detail
        )
    elif event.verdict == Verdict.SOFT_BOUNCE:
        delivery.count_failure(subscriber_id=reader)
    else:
        delivery.clear_failures(subscriber_ids=[reader])


def unsubscribe_by_mail(*, recipients: list[str]) -> bool:
    """Mail sent to a reader's List-Unsubscribe address unsubscribes that reader (RFC 2369);
    True if this message was one. The address says who, never the From, which anyone can
    write (subscriptions.unsubscribe_mailto). Other inbound mail is not ours to read."""
    readers = {subscriptions.subscriber_for_mailto(recipient=r) for r in recipients} - {None}
    for reader in readers:
        subscriptions.unsubscribe(subscriber_id=reader, because=Unsubscribed.MAIL)
    return bool(readers)
