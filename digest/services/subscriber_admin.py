"""What operators do to subscribers and deliveries from the admin, each step in the audit log.

The state changes themselves belong to the subscriptions and delivery services; this module
only adds who did it. Emails are queued by the caller once the change is committed.
"""

import re
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from digest.models import AuditLog, Delivery, Subscriber
from digest.services import subscriptions
from digest.services.moderation import Actor, audit_entry

ADDRESS_HIDDEN = "[reader's address]"


def set_paused(*, subscriber_ids: list[int], paused: bool, actor: Actor) -> int:
    """Pause (or resume) subscribers through the subscriptions service; returns how many
    changed. Only active readers pause and only paused ones resume, as on their own page."""
    change = subscriptions.pause if paused else subscriptions.resume
    with transaction.atomic():
        before = {s.pk: s.status for s in Subscriber.objects.filter(pk__in=subscriber_ids)}
        for subscriber_id in before:
            change(subscriber_id=subscriber_id)
        after = Subscriber.objects.filter(pk__in=subscriber_ids)
        entries = [
            audit_entry(
                actor=actor,
                action="pause" if paused else "resume",
                target=subscriber,
                before={"status": before[subscriber.pk]},
                after={"status": subscriber.status},
                reason="",
            )
            for subscriber in after
            if subscriber.status != before[subscriber.pk]
        ]
        AuditLog.objects.bulk_create(entries)
    return len(entries)


def confirmations_to_resend(*, subscriber_ids: list[int], actor: Actor) -> list[int]:
    """The subscribers among these still waiting for confirmation, each resend logged; the
    caller queues their confirmation emails."""
    pending = list(
        Subscriber.objects.filter(pk__in=subscriber_ids, status=Subscriber.Status.PENDING)
    )
    AuditLog.objects.bulk_create(
        audit_entry(
            actor=actor,
            action="resend-confirmation",
            target=subscriber,
            before={"status": subscriber.status},
            after={"status": subscriber.status},
            reason="",
        )
        for subscriber in pending
    )
    return [subscriber.pk for subscriber in pending]


@dataclass(frozen=True)
class Retried:
    delivery_ids: list[int]
    # Failed deliveries left alone: their readers paused (by bounces, often) or left.
    inactive: int


def without_address(text: str, *, address: str) -> str:
    """`text` with the reader's address taken out: relays quote the recipient in their
    refusals, and the audit log outlives the reader's "delete my data"."""
    return re.sub(re.escape(address), ADDRESS_HIDDEN, text, flags=re.IGNORECASE)


def retry_failed_deliveries(*, delivery_ids: list[int], actor: Actor) -> Retried:
    """Failed deliveries of active readers back to pending with a fresh attempt count and
    planning time (the scheduler gives up on a digest a day after planning); returns their
    ids for the caller to queue. Deliveries needing review (maybe sent) are never retried
    from here, nor those of readers not active: sending drops a pending digest of a reader
    who is not, and with it the record of why a reader was paused."""
    with transaction.atomic():
        failed = list(
            Delivery.objects.select_for_update().filter(
                pk__in=delivery_ids, state=Delivery.State.FAILED
            )
        )
        active = dict(
            Subscriber.objects.filter(
                pk__in={d.subscriber_id for d in failed}, status=Subscriber.Status.ACTIVE
            ).values_list("pk", "email")
        )
        retried = [delivery for delivery in failed if delivery.subscriber_id in active]
        ids = [delivery.pk for delivery in retried]
        Delivery.objects.filter(pk__in=ids).update(
            state=Delivery.State.PENDING, error="", attempts=0, created_at=timezone.now()
        )
        AuditLog.objects.bulk_create(
            audit_entry(
                actor=actor,
                action="retry-delivery",
                target=delivery,
                before={
                    "state": delivery.state,
                    "error": without_address(
                        delivery.error, address=active[delivery.subscriber_id]
                    ),
                },
                after={"state": Delivery.State.PENDING, "error": ""},
                reason="",
            )
            for delivery in retried
        )
    return Retried(delivery_ids=ids, inactive=len(failed) - len(retried))
