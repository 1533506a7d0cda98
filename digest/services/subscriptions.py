"""Subscribers: signup with double opt-in, signed links, preferences, pause, unsubscribe.

Every link we mail is signed with `django.core.signing`, each purpose with its own salt, so a
token made for one purpose never works for another. Tokens carry ids only: an address never
appears in a URL (URLs end up in logs). Only the confirmation link expires; unsubscribe,
preferences and feedback links keep working in old emails until the reader signs them all out
(a per-reader generation in every token); unsubscribe links work even then.
"""

import functools
import hashlib
import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from digest.models import DeliveryItem, Paper, PaperFeedback, Subscriber
from digest.services.emails.backends import DOT_ATOM, ENCODED_WORD
from digest.services.personal_feed import revoke_feed_token
from digest.services.ranking.digests import forget_interests, record_feedback
from digest.services.send_times import next_send_at

CONFIRM_SALT = "digest.subscriptions.confirm"
PREFERENCES_SALT = "digest.subscriptions.preferences"
UNSUBSCRIBE_SALT = "digest.subscriptions.unsubscribe"
FEEDBACK_SALT = "digest.subscriptions.feedback"
ADDRESS_SALT = "digest.subscriptions.address"
MAILTO_SALT = "digest.subscriptions.mailto"
# Hex digits of the signature in a reader's List-Unsubscribe mailto: address: 64 bits, short
# enough for the 64 characters of a local part after the operator's own (a relay's inbound
# hash alone is 32).
MAILTO_MAC_LENGTH = 16
SIGNED_OUT = "This link was signed out: use the one in your latest digest."
# The last part of a feedback link, and what it records.
FEEDBACK_ANSWERS = {"more": PaperFeedback.Kind.LIKE, "less": PaperFeedback.Kind.DISLIKE}

Status = Subscriber.Status


class LinkError(Exception):
    """A link that cannot be used; the message is shown to the reader as it is."""


DAMAGED = "This link is damaged or incomplete: copy the whole link."


class ExpiredLink(LinkError):
    """A genuine confirmation link that is too old: the page offers a new one."""


@dataclass(frozen=True)
class Preferences:
    """What a reader chooses; the names are the Subscriber fields they set."""

    interests: str
    categories: list[str]
    delivery_hour: int
    timezone: str
    digest_size: int
    followed_authors: list[str] = field(default_factory=list)
    categories_only: bool = False
    trending_count: int = 3
    trending_weight: float | None = None
    send_when_empty: bool = False
    follow_code_out: bool = True
    follow_taking_off: bool = True
    # None: daily; 0 (Monday) to 6: weekly on that day.
    digest_weekday: int | None = None


class Notice(StrEnum):
    """Which email a signup calls for."""

    CONFIRM = "confirm"
    ALREADY_SUBSCRIBED = "already-subscribed"
    # To the new address a reader asked for (Subscriber.pending_email).
    CONFIRM_ADDRESS = "confirm-address"


@dataclass(frozen=True)
class Signup:
    subscriber_id: int
    notice: Notice


# --- Addresses -------------------------------------------------------------------------

# A dot-atom local part only: Django's own check also takes quoted local parts, whose control
# characters and spaces broke our To header onto new lines, and non-ASCII ones, which need
# SMTPUTF8 that a relay may not offer. Nor an encoded word, which would be mailed elsewhere
# (and confirmed under another row).
LOCAL_PART = re.compile(DOT_ATOM)


def validate_address(email: str) -> None:
    """Raise ValidationError unless `email` is an address we can put in a header and send."""
    validate_email(email)
    local, _, _ = email.rpartition("@")
    if len(local) > 64 or not LOCAL_PART.fullmatch(local):
        raise ValidationError(
            "Use a plain address: letters, digits and . _ + - before the @, no spaces or quotes.",
            code="invalid",
        )
    if ENCODED_WORD in local:
        raise ValidationError(
            'Mail software reads "=?" before the @ as an encoded name: use another address.',
            code="invalid",
        )


# --- Tokens ------------------------------------------------------------------------------


def confirm_token(*, subscriber_id: int) -> str:
    return signing.dumps(subscriber_id, salt=CONFIRM_SALT)


def _signed(subscriber: Subscriber, *parts: int, salt: str) -> str:
    # The generation comes last: links from before generations end without one (see _unpack).
    # signing.dumps, with its signer made once per salt and key: a digest signs three links.
    value = [subscriber.pk, *parts, subscriber.link_generation]
    return _signer(salt=salt, key=settings.SECRET_KEY).sign_object(value)


@functools.lru_cache(maxsize=16)
def _signer(*, salt: str, key: str) -> signing.TimestampSigner:
    return signing.TimestampSigner(key=key, salt=salt)


def preferences_token(*, subscriber: Subscriber) -> str:
    return _signed(subscriber, salt=PREFERENCES_SALT)


def unsubscribe_token(*, subscriber: Subscriber) -> str:
    return _signed(subscriber, salt=UNSUBSCRIBE_SALT)


def _mailto_mac(subscriber_id: int) -> str:
    return salted_hmac(MAILTO_SALT, str(subscriber_id), algorithm="sha256").hexdigest()[
        :MAILTO_MAC_LENGTH
    ]


def unsubscribe_mailto(*, subscriber: Subscriber) -> str:
    """The reader's own List-Unsubscribe mailto: address, MAIL_UNSUBSCRIBE_MAILTO with a
    signed tag (local+<id>-<signature>@domain): mail to it unsubscribes this reader, whatever
    its From says (anyone can write a From; this address, like the one-click link, comes only
    in the reader's digests). Without a generation: old digests' addresses keep working, as
    their unsubscribe links do. "" where no inbound webhook reads such mail."""
    if not (settings.MAIL_UNSUBSCRIBE_MAILTO and settings.MAIL_WEBHOOKS):
        return ""
    local, _, domain = settings.MAIL_UNSUBSCRIBE_MAILTO.strip().rpartition("@")
    return f"{local}+{subscriber.pk}-{_mailto_mac(subscriber.pk)}@{domain}"


def subscriber_for_mailto(*, recipient: str) -> int | None:
    """The id of the reader whose unsubscribe_mailto address `recipient` is; None for any
    other address (the bare one, a guessed or damaged tag)."""
    local, _, domain = settings.MAIL_UNSUBSCRIBE_MAILTO.strip().lower().rpartition("@")
    given_local, _, given_domain = recipient.strip().lower().rpartition("@")
    prefix = f"{local}+"
    if not local or given_domain != domain or not given_local.startswith(prefix):
        return None
    subscriber_id, _, mac = given_local.removeprefix(prefix).partition("-")
    if not (subscriber_id.isascii() and subscriber_id.isdigit()):
        return None
    genuine = constant_time_compare(mac, _mailto_mac(int(subscriber_id)))
    return int(subscriber_id) if genuine else None


def feedback_token(*, subscriber: Subscriber, delivery_id: int) -> str:
    """One token per digest: its "more / less like this" links name the paper and the answer
    after it, and only papers of that digest are accepted."""
    return _signed(subscriber, delivery_id, salt=FEEDBACK_SALT)


def _load(
    token: str, *, salt: str, ids: int = 1, generation: bool = False, max_age: float | None = None
) -> tuple[list[int], int]:
    """The ids a token of ours carries and, for links that have one, its generation: a link
    mailed before generations existed (the bare subscriber id, or [subscriber, delivery]) is
    of generation 0. A genuine signature over another shape (a list where an id belongs, a
    string) is as unusable as a forged one, never a crash."""
    try:
        value = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise ExpiredLink("This confirmation link has expired.") from exc
    except signing.BadSignature as exc:
        raise LinkError(DAMAGED) from exc
    # The shapes we ever signed: a bare id or a list of ids, the generation last if any.
    if isinstance(value, list):
        values, sizes = value, {ids + 1} if generation else set()
        if ids > 1:
            sizes.add(ids)
    else:
        values, sizes = [value], {1} if ids == 1 else set()
    # bool is an int to Python, never to us.
    if len(values) not in sizes or any(type(v) is not int for v in values):
        raise LinkError(DAMAGED)
    return values[:ids], values[ids] if len(values) > ids else 0


def _subscriber(subscriber_id: int) -> Subscriber:
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None:
        raise LinkError("This link belongs to a subscription that no longer exists.")
    return subscriber


@dataclass(frozen=True)
class ManageLink:
    subscriber: Subscriber
    # False once the reader signed out all links made before (sign_out_links).
    current: bool


def manage_link(*, token: str, purpose: str) -> ManageLink:
    """The subscriber a preferences or unsubscribe link was made for, and whether it is
    still current."""
    salt = {"preferences": PREFERENCES_SALT, "unsubscribe": UNSUBSCRIBE_SALT}[purpose]
    (subscriber_id,), generation = _load(token, salt=salt, generation=True)
    subscriber = _subscriber(subscriber_id)
    return ManageLink(subscriber, current=generation == subscriber.link_generation)


def subscriber_for(*, token: str, purpose: str) -> Subscriber:
    """The subscriber a preferences or unsubscribe link was made for. A signed-out link only
    unsubscribes: RFC 8058 clients may POST from an old email weeks later."""
    link = manage_link(token=token, purpose=purpose)
    if not link.current and purpose != "unsubscribe":
        raise LinkError(SIGNED_OUT)
    return link.subscriber


def sign_out_links(*, subscriber_id: int) -> None:
    """Every preferences, feedback and feed link made so far stops working (a forwarded
    digest gave them away); the next emails carry new ones. Unsubscribe links still
    unsubscribe."""
    Subscriber.objects.filter(pk=subscriber_id).update(link_generation=F("link_generation") + 1)
    revoke_feed_token(subscriber_id=subscriber_id)


def feedback_for(*, token: str, paper_id: str, answer: str) -> tuple[Subscriber, Paper, str]:
    """Who says "more" or "less" like which paper of their digest, from a signed feedback
    link; returns the PaperFeedback kind."""
    kind = FEEDBACK_ANSWERS.get(answer)
    if kind is None:
        raise LinkError(DAMAGED)
    (subscriber_id, delivery_id), generation = _load(
        token, salt=FEEDBACK_SALT, ids=2, generation=True
    )
    item = DeliveryItem.objects.filter(
        delivery_id=delivery_id, delivery__subscriber_id=subscriber_id, paper_id=paper_id
    ).first()
    if item is None:
        raise LinkError(DAMAGED)
    paper = Paper.objects.filter(pk=paper_id, hidden=False).first()
    if paper is None:
        raise LinkError("This paper is no longer listed.")
    subscriber = _subscriber(subscriber_id)
    if generation != subscriber.link_generation:
        raise LinkError(SIGNED_OUT)
    return subscriber, paper, kind


# --- Mail limits (the shared cache: Redis in production) ---------------------------------


def _may_email(email: str) -> bool:
    # Whoever types an address into the form must not turn us into a mail cannon against it.
    digest = hashlib.sha256(email.encode()).hexdigest()
    return cache.add(f"subscribe-email:{digest}", 1, settings.SUBSCRIBE_EMAIL_EVERY_SECONDS)


# --- Signup and confirmation -------------------------------------------------------------


def _reschedule(subscriber: Subscriber, *, planned_zone: str) -> None:
    """The next send instant for the reader's hour and zone now; the stored one was computed
    in `planned_zone`."""
    subscriber.next_digest_at = next_send_at(
        planned=subscriber.next_digest_at,
        planned_zone=planned_zone,
        hour=subscriber.delivery_hour,
        zone_name=subscriber.timezone,
        now=timezone.now(),
        weekday=subscriber.digest_weekday,
    )


def _apply(subscriber: Subscriber, preferences: Preferences) -> None:
    planned_zone, weekday = subscriber.timezone, subscriber.digest_weekday
    for name, value in asdict(preferences).items():
        setattr(subscriber, name, value)
    if subscriber.digest_weekday != weekday:
        # A new rhythm starts from today: the date that was due belonged to the old one. A
        # digest already sent today is not sent again (one per reader and local date).
        subscriber.next_digest_at = None
    _reschedule(subscriber, planned_zone=planned_zone)


def subscribe(*, email: str, preferences: Preferences) -> Signup | None:
    """Record a signup and say which email it calls for, or None when this address was mailed
    too recently. Callers answer the same whatever comes back: no address enumeration.

    A new, pending or unsubscribed address takes the preferences and waits for confirmation; a
    confirmed one keeps its own (a stranger must not change them) and is reminded of its link.
    """
    email = email.strip().lower()
    validate_address(email)
    with transaction.atomic():
        subscriber, created = Subscriber.objects.select_for_update().get_or_create(
            email=email, defaults=asdict(preferences)
        )
        # A new row holds the preferences already and has no interest vector to forget: two
        # queries fewer on the path that a flood of signups takes.
        if not created and subscriber.status in (Status.PENDING, Status.UNSUBSCRIBED):
            _apply(subscriber, preferences)
            subscriber.status = Status.PENDING
            subscriber.unsubscribed_because, subscriber.unsubscribed_detail = "", ""
            subscriber.save()
            forget_interests(subscriber_id=subscriber.pk)
    if not _may_email(email):
        return None
    confirmed = subscriber.status in (Status.ACTIVE, Status.PAUSED)
    notice = Notice.ALREADY_SUBSCRIBED if confirmed else Notice.CONFIRM
    return Signup(subscriber_id=subscriber.pk, notice=notice)


def awaiting_confirmation(*, email: str) -> int | None:
    """The id of the reader at this address if a signup may still shape their interests
    (not confirmed yet), else None: a stranger must not change a confirmed reader's."""
    email = email.strip().lower()
    return (
        Subscriber.objects.filter(email=email, status=Status.PENDING)
        .values_list("pk", flat=True)
        .first()
    )


def confirmation_for(*, token: str) -> Subscriber:
    """The subscriber a confirmation link is for, if the link is genuine, fresh and still
    means something (raises ExpiredLink or LinkError)."""
    max_age = settings.CONFIRM_LINK_MAX_AGE_HOURS * 3600
    (subscriber_id,), _ = _load(token, salt=CONFIRM_SALT, max_age=max_age)
    subscriber = _subscriber(subscriber_id)
    if subscriber.status == Status.UNSUBSCRIBED:
        raise LinkError("You unsubscribed after this link was sent: sign up again to come back.")
    return subscriber


def confirm(*, token: str) -> Subscriber:
    """Double opt-in: the link from the confirmation email. Confirming twice changes nothing."""
    subscriber = confirmation_for(token=token)
    if subscriber.status == Status.PENDING:
        subscriber.status = Status.ACTIVE
        subscriber.confirmed_at = timezone.now()
        _reschedule(subscriber, planned_zone=subscriber.timezone)
        subscriber.save(update_fields=["status", "confirmed_at", "next_digest_at"])
    return subscriber


def renew_confirmation(*, token: str) -> Signup | None:
    """A fresh confirmation email for the reader of an expired link (the signature must still
    be ours); None when there is nothing to send or it was sent too recently."""
    (subscriber_id,), _ = _load(token, salt=CONFIRM_SALT)
    subscriber = _subscriber(subscriber_id)
    if subscriber.status != Status.PENDING or not _may_email(subscriber.email):
        return None
    return Signup(subscriber_id=subscriber.pk, notice=Notice.CONFIRM)


# --- Preferences, pause, unsubscribe, feedback -------------------------------------------


def update_preferences(*, subscriber_id: int, preferences: Preferences) -> Subscriber:
    # Locked: the planner moving the next send instant meanwhile must not undo the change.
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber_id)
        _apply(subscriber, preferences)
        subscriber.save()
    # The cached interest vector no longer describes this reader.
    forget_interests(subscriber_id=subscriber_id)
    return subscriber


def pause(*, subscriber_id: int) -> None:
    Subscriber.objects.filter(pk=subscriber_id, status=Status.ACTIVE).update(status=Status.PAUSED)


def resume(*, subscriber_id: int) -> None:
    """Back from a pause; a pause after hard bounces ends too, the reader vouches for the
    address, so the bounce count starts again."""
    Subscriber.objects.filter(pk=subscriber_id, status=Status.PAUSED).update(
        status=Status.ACTIVE, hard_bounces=0
    )


def unsubscribe(
    *,
    subscriber_id: int,
    because: str = Subscriber.Unsubscribed.READER,
    detail: str = "",
) -> None:
    """Immediate and idempotent: the first unsubscription, its time and its reason, is kept."""
    Subscriber.objects.filter(pk=subscriber_id).exclude(status=Status.UNSUBSCRIBED).update(
        status=Status.UNSUBSCRIBED,
        unsubscribed_at=timezone.now(),
        unsubscribed_because=because,
        unsubscribed_detail=detail,
    )


def liked_papers(*, subscriber_id: int) -> list[Paper]:
    """The papers a reader liked (by feedback or as papers they know), newest first."""
    return list(
        Paper.objects.filter(
            feedback__subscriber_id=subscriber_id, feedback__kind=PaperFeedback.Kind.LIKE
        ).order_by("-feedback__created_at")
    )


def give_feedback(*, token: str, paper_id: str, answer: str) -> tuple[Paper, str]:
    """Apply a signed "more / less like this" link; the reader's interests move with it."""
    subscriber, paper, kind = feedback_for(token=token, paper_id=paper_id, answer=answer)
    record_feedback(subscriber_id=subscriber.pk, paper_id=paper.pk, kind=kind)
    return paper, kind


def undo_feedback(*, token: str, paper_id: str, answer: str) -> Paper:
    """Take back a "more / less like this" given through the same signed link."""
    subscriber, paper, _ = feedback_for(token=token, paper_id=paper_id, answer=answer)
    PaperFeedback.objects.filter(subscriber=subscriber, paper=paper).delete()
    return paper


# --- A new address, confirmed from that address ------------------------------------------


def _address_check(email: str) -> int:
    # Ties a link to the address it was mailed to, without the address in the URL. A
    # cryptographic hash: with a checksum (CRC-32) one could pick an address of one's own
    # that shares it with a stranger's, and confirm the stranger's with its link.
    return int.from_bytes(hashlib.sha256(email.encode()).digest()[:8])


def address_token(*, subscriber: Subscriber) -> str:
    return _signed(subscriber, _address_check(subscriber.pending_email), salt=ADDRESS_SALT)


def request_address_change(*, subscriber_id: int, email: str) -> Signup | None:
    """Remember the new address and say which email it calls for (None: the address is the
    current one, or was mailed too recently). Nothing changes until it is confirmed from the
    new address; whether another reader has it is told only there."""
    email = email.strip().lower()
    validate_address(email)
    subscriber = Subscriber.objects.get(pk=subscriber_id)
    if email == subscriber.email:
        Subscriber.objects.filter(pk=subscriber_id).update(pending_email="")
        return None
    Subscriber.objects.filter(pk=subscriber_id).update(pending_email=email)
    if not _may_email(email):
        return None
    return Signup(subscriber_id=subscriber_id, notice=Notice.CONFIRM_ADDRESS)


def address_change_for(*, token: str) -> Subscriber:
    """The reader a genuine, fresh address link is for, while that address is still the one
    waiting (a later request replaces it)."""
    max_age = settings.CONFIRM_LINK_MAX_AGE_HOURS * 3600
    (subscriber_id, check), generation = _load(
        token, salt=ADDRESS_SALT, ids=2, generation=True, max_age=max_age
    )
    subscriber = _subscriber(subscriber_id)
    if generation != subscriber.link_generation:
        raise LinkError(SIGNED_OUT)
    if not subscriber.pending_email or _address_check(subscriber.pending_email) != check:
        raise LinkError("This address change was replaced or is done: use your latest email.")
    return subscriber


def confirm_address_change(*, token: str) -> Subscriber:
    """The new address takes effect; the links mailed to the old one are signed out (the old
    mailbox may be someone else's now) and the failure count starts again."""
    subscriber = address_change_for(token=token)
    try:
        with transaction.atomic():
            Subscriber.objects.filter(pk=subscriber.pk).update(
                email=subscriber.pending_email,
                pending_email="",
                hard_bounces=0,
                link_generation=F("link_generation") + 1,
            )
    except IntegrityError as exc:
        raise LinkError(
            "Another subscription already uses this address: unsubscribe it first, or keep "
            "your current one."
        ) from exc
    return Subscriber.objects.get(pk=subscriber.pk)
