"""A reader's own data: the digests they were sent, a copy of everything we keep about them
(JSON), and its deletion. The deletion is audited as counts only: the log must not keep
what the reader asked us to forget."""

from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction

from digest.models import Delivery, DeliveryItem, PaperFeedback, Subscriber
from digest.services.moderation import audit_entry

# What a reader chose and what happened to their subscription; never the internals
# (cached vectors, the feed secret, the link generation).
EXPORTED_FIELDS = (
    "email",
    "status",
    "interests",
    "categories",
    "categories_only",
    "followed_authors",
    "delivery_hour",
    "timezone",
    "digest_weekday",
    "digest_size",
    "trending_count",
    "trending_weight",
    "send_when_empty",
    "pending_email",
    "hard_bounces",
    "created_at",
    "confirmed_at",
    "unsubscribed_at",
    "unsubscribed_because",
    "unsubscribed_detail",
)


@dataclass(frozen=True)
class PastDigest:
    day: date
    subject: str
    sent_at: datetime
    paper_ids: list[str]


def past_digests(*, subscriber_id: int) -> list[PastDigest]:
    """The digests this reader was sent, newest first, with their papers in the order
    mailed: each opens as its public "view in browser" page."""
    sent = (
        Delivery.objects.filter(subscriber_id=subscriber_id, state=Delivery.State.SENT)
        .order_by("-local_date")
        .values_list("pk", "local_date", "subject", "sent_at")
    )
    rows = list(sent)
    papers: dict[int, list[str]] = {pk: [] for pk, *_ in rows}
    items = DeliveryItem.objects.filter(delivery_id__in=list(papers)).order_by(
        "delivery_id", "position"
    )
    for delivery_id, paper_id in items.values_list("delivery_id", "paper_id"):
        papers[delivery_id].append(paper_id)
    return [PastDigest(day, subject, sent_at, papers[pk]) for pk, day, subject, sent_at in rows]


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, date | datetime) else value


def export(*, subscriber_id: int) -> dict:
    """Everything kept about the reader, as JSON-ready data."""
    subscriber = Subscriber.objects.get(pk=subscriber_id)
    feedback = PaperFeedback.objects.filter(subscriber_id=subscriber_id).order_by("created_at")
    deliveries = Delivery.objects.filter(subscriber_id=subscriber_id).order_by("local_date")
    items = DeliveryItem.objects.filter(delivery__subscriber_id=subscriber_id).order_by(
        "delivery_id", "position"
    )
    papers: dict[int, list[dict]] = {}
    for delivery_id, paper_id, section, why in items.values_list(
        "delivery_id", "paper_id", "section", "why"
    ):
        papers.setdefault(delivery_id, []).append(
            {"paper": paper_id, "section": section, "why": why}
        )
    return {
        "subscriber": {name: _plain(getattr(subscriber, name)) for name in EXPORTED_FIELDS},
        "feedback": [
            {"paper": f.paper_id, "kind": f.kind, "at": _plain(f.created_at)} for f in feedback
        ],
        "deliveries": [
            {
                "date": _plain(d.local_date),
                "state": d.state,
                "subject": d.subject,
                "sent_at": _plain(d.sent_at),
                "papers": papers.get(d.pk, []),
            }
            for d in deliveries
        ],
    }


def delete(*, subscriber_id: int) -> dict[str, int]:
    """The subscriber, their feedback and their deliveries (with the papers listed in them)
    go; the audit log keeps how many of each, under the row's id only."""
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber_id)
        counts = {
            "feedback": PaperFeedback.objects.filter(subscriber=subscriber).count(),
            "deliveries": Delivery.objects.filter(subscriber=subscriber).count(),
            "delivery_items": DeliveryItem.objects.filter(delivery__subscriber=subscriber).count(),
        }
        entry = audit_entry(
            actor=None,
            action="delete-reader-data",
            target=subscriber,
            before=counts,
            after={},
            reason="asked by the reader",
        )
        subscriber.delete()
        entry.save()
    return counts
