"""Sending the daily digest: exactly one per subscriber and local date.

The Delivery row is the lock. Planning inserts it (unique subscriber + local date) together
with the ranked papers; sending claims it by a conditional UPDATE (pending -> sending),
committed just before its SMTP transaction, so a duplicated task, two beat processes, a
retried task or a restarted worker never send twice. A row left in `sending` may have been
accepted by the SMTP server before its worker died: it becomes `ambiguous`, for review, and
is never resent.
"""

import logging
import smtplib
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from anymail.exceptions import AnymailRecipientsRefused
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Prefetch, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from digest.models import CodeLink, Delivery, DeliveryItem, Paper, Subscriber
from digest.services import send_times
from digest.services.batching import batched
from digest.services.emails.backends import FolderBackend
from digest.services.emails.compose import (
    ITEMS_ATTR,
    LoadedItem,
    address_change_message,
    already_subscribed_message,
    confirmation_message,
    digest_message,
)
from digest.services.papers import visible_papers, with_cards
from digest.services.ranking.digests import Pick, candidate_papers, pick_papers
from digest.services.subscriptions import Notice, validate_address

log = logging.getLogger(__name__)
State = Delivery.State
ACTIVE = Subscriber.Status.ACTIVE
# Subscribers ranked together and whose plan is written in one transaction: bounds memory and
# statement sizes; per-batch costs (candidate similarities, queries) stay small beside it.
PLAN_BATCH = 2000
# Digests claimed together: one commit claims them, one records how they went. A worker that
# dies mid-batch leaves at most this many `sending`, to be reviewed and never resent.
CLAIM_BATCH = 10
# A digest that could not go out within a day is old news: it is given up, not sent late.
GIVE_UP_AFTER = timedelta(days=1)
# Tries to record how a sent batch went when the database connection breaks, each on a new
# connection: only this worker knows what the SMTP server answered, and digests it cannot
# record stay `sending` and end as ambiguous although the reader has them.
RECORD_TRIES = 4


class MailServerUnavailable(Exception):
    """No SMTP connection could be opened: nothing was claimed, the whole chunk can wait."""


class NoticeRefused(Exception):
    """The SMTP server refused a notice for good (5xx): asking again would be refused again."""


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    ambiguous: int = 0
    # Claimed elsewhere, or the reader left between planning and sending.
    skipped: int = 0
    # Temporary failures, pending again: the caller retries them with backoff.
    retry: list[int] = field(default_factory=list)

    def count(self, outcomes: list["Outcome"]) -> None:
        for outcome in outcomes:
            if outcome.state == State.SENT:
                self.sent += 1
            elif outcome.state == State.AMBIGUOUS:
                self.ambiguous += 1
            elif outcome.state == State.PENDING:
                self.retry.append(outcome.delivery.pk)
            else:
                self.failed += 1

    def add(self, other: "SendReport") -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.ambiguous += other.ambiguous
        self.skipped += other.skipped
        self.retry += other.retry

    def __str__(self) -> str:
        return (
            f"{self.sent} sent, {self.failed} failed, {len(self.retry)} to retry, "
            f"{self.ambiguous} ambiguous, {self.skipped} skipped"
        )


# --- Who is due --------------------------------------------------------------------------


def due_subscribers(*, now: datetime) -> dict[date, list[int]]:
    """Active subscribers whose next send instant has come, read through its index, grouped
    by their local date (around midnight UTC readers live on two days). A reader without one
    yet (made active outside the subscription flow: the shell, a fixture) or with one a
    stopped scheduler left behind is due for today once today's hour has come: a missed day
    is not sent late (see GIVE_UP_AFTER)."""
    rows = (
        Subscriber.objects.filter(status=ACTIVE)
        .filter(Q(next_digest_at__lte=now) | Q(next_digest_at=None))
        .values_list("pk", "timezone", "delivery_hour", "digest_weekday", "next_digest_at")
    )
    due: dict[date, list[int]] = defaultdict(list)
    for pk, zone_name, hour, weekday, planned in rows.order_by("pk"):
        today = send_times.local_date(instant=now, zone_name=zone_name)
        # A weekly reader's stored instant is on their weekday; without one, today must be.
        if planned is None and send_times.first_send_day(day=today, weekday=weekday) != today:
            continue
        if send_times.send_at(day=today, hour=hour, zone_name=zone_name) <= now:
            due[today].append(pk)
    return dict(due)


# --- Planning ----------------------------------------------------------------------------


def plan(*, day: date, subscriber_ids: list[int]) -> list[int]:
    """Rank these subscribers for `day` and record a pending delivery with its papers for each
    who has any (an empty digest is not sent); returns the new delivery ids. A subscriber who
    already has a delivery for that date keeps it. The day's candidates are read once; readers
    are ranked and written PLAN_BATCH at a time, so memory stays bounded whatever their number,
    and each batch logs its progress and timing."""
    candidates = candidate_papers(day=day)
    ordered = sorted(subscriber_ids)
    batches = -(-len(ordered) // PLAN_BATCH)
    planned: list[int] = []
    for number, batch in enumerate(batched(ordered, PLAN_BATCH), start=1):
        started = time.perf_counter()
        picks = pick_papers(subscriber_ids=batch, day=day, candidates=candidates)
        ranked = time.perf_counter()
        new = _record_plan(day, {pk: chosen for pk, chosen in picks.items() if chosen})
        _day_done(day, batch)
        planned += new
        log.info(
            "planned %s, batch %d/%d: %d readers, %d digests; ranking %.2fs, writing %.2fs",
            day,
            number,
            batches,
            len(batch),
            len(new),
            ranked - started,
            time.perf_counter() - ranked,
        )
    return planned


def _day_done(day: date, subscriber_ids: list[int]) -> None:
    """`day` is done for these readers, whether a digest was planned or nothing was there to
    send: their next send instant moves to the next date, so an empty day is not ranked again
    on every run until midnight, and leaves no row a later digest of that day would clash
    with. The rows are locked so that a preference change made meanwhile is not undone."""
    with transaction.atomic():
        readers = (
            Subscriber.objects.select_for_update()
            .filter(pk__in=subscriber_ids)
            .values_list("pk", "timezone", "delivery_hour", "digest_weekday", "next_digest_at")
            .order_by("pk")
        )
        # Readers of one zone, hour and rhythm share their next instant: one UPDATE per
        # instant, not a CASE over every reader (which cost more than ranking them).
        moved: dict[datetime, list[int]] = defaultdict(list)
        for pk, zone_name, hour, weekday, planned in readers:
            instant = send_times.after_day(
                day=day, planned=planned, hour=hour, zone_name=zone_name, weekday=weekday
            )
            moved[instant].append(pk)
        for instant, pks in moved.items():
            Subscriber.objects.filter(pk__in=pks).update(next_digest_at=instant)


ITEM_COLUMNS = ("delivery_id", "paper_id", "position", "section", "score", "why")


def _record_plan(day: date, picks: dict[int, list[Pick]]) -> list[int]:
    with transaction.atomic():
        # Inserted in subscriber order, so concurrent planners queue on the unique index
        # instead of deadlocking; a conflict means another planner got there first.
        Delivery.objects.bulk_create(
            [Delivery(subscriber_id=pk, local_date=day) for pk in picks], ignore_conflicts=True
        )
        # Ours are the rows still without papers: other planners commit theirs with papers.
        mine = dict(
            Delivery.objects.filter(
                local_date=day, subscriber_id__in=list(picks), items=None
            ).values_list("subscriber_id", "pk")
        )
        _insert_items(
            (delivery_id, pick.paper_id, position, pick.section, pick.score, pick.why)
            for subscriber_id, delivery_id in mine.items()
            for position, pick in enumerate(picks[subscriber_id])
        )
    return sorted(mine.values())


def _insert_items(rows: Iterable[tuple]) -> None:
    """Ten rows a reader a day: PostgreSQL takes them by COPY (a stream, no statement to
    build and parse), other databases by one bulk INSERT."""
    if connection.vendor == "postgresql":
        table, columns = DeliveryItem._meta.db_table, ", ".join(ITEM_COLUMNS)
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    DeliveryItem.objects.bulk_create(
        DeliveryItem(**dict(zip(ITEM_COLUMNS, row, strict=True))) for row in rows
    )


# --- Sending -----------------------------------------------------------------------------


def _drop_departed(delivery_ids: list[int] | None = None) -> int:
    """Pending digests of readers who paused or left since planning: nothing was sent, so
    the row goes (and with it the papers' "already sent" mark)."""
    pending = Delivery.objects.filter(state=State.PENDING).exclude(subscriber__status=ACTIVE)
    if delivery_ids is not None:
        pending = pending.filter(pk__in=delivery_ids)
    return pending.delete()[1].get("digest.Delivery", 0)


def _drop_emptied(delivery_ids: list[int]) -> int:
    """Pending digests whose every paper an editor hid since planning: nothing is left to
    send, so the row goes as for a reader who left."""
    emptied = Delivery.objects.filter(pk__in=delivery_ids, state=State.PENDING).exclude(
        items__paper__hidden=False
    )
    return emptied.delete()[1].get("digest.Delivery", 0)


# What sending reads of a delivery and its reader (tests/services/test_delivery.py: composing
# a chunk makes no query): the reader's interests, vectors and settings stay in the database.
SENT_FIELDS = (
    "subscriber_id",
    "local_date",
    "attempts",
    "subscriber__email",
    "subscriber__link_generation",
    "subscriber__hard_bounces",
)


def _pending(delivery_ids: list[int]) -> list[Delivery]:
    """The pending deliveries with all a digest shows, less the papers hidden since planning
    (hidden means never mailed again): their items as LoadedItems (plain rows, no model
    instance each), each paper loaded once per chunk however many readers get it."""
    deliveries = list(
        Delivery.objects.filter(pk__in=delivery_ids, state=State.PENDING)
        .select_related("subscriber")
        .only(*SENT_FIELDS)
        .order_by("pk")
    )
    rows = list(
        DeliveryItem.objects.filter(delivery__in=deliveries, paper__hidden=False)
        .order_by("delivery_id", "position")
        .values_list("delivery_id", "paper_id", "section", "why")
    )
    papers = Paper.objects.defer("comment", "journal_ref").prefetch_related(
        Prefetch("code_links", queryset=CodeLink.objects.order_by("id"))
    )
    by_id = papers.in_bulk({paper_id for _, paper_id, _, _ in rows})
    items = defaultdict(list)
    for delivery_id, paper_id, section, why in rows:
        items[delivery_id].append(LoadedItem(by_id[paper_id], paper_id, section, why))
    for delivery in deliveries:
        setattr(delivery, ITEMS_ATTR, items[delivery.pk])
    return deliveries


@dataclass(frozen=True)
class Outcome:
    delivery: Delivery
    state: str
    error: str = ""
    # A permanent refusal of the recipient (not of us as sender): counts towards a pause.
    bounced: bool = False
    # The server closed or broke the connection: open a new one for the next digest.
    reconnect: bool = False


def _message_id(message: EmailMultiAlternatives) -> str:
    return message.extra_headers["Message-ID"]


def _claim_sql(rows: int) -> str:
    delivery, subscriber = Delivery._meta.db_table, Subscriber._meta.db_table
    values = ", ".join(["(%s, %s, %s)"] * rows)
    return (
        f"WITH claims(id, message_id, subject) AS (VALUES {values})"
        f" UPDATE {delivery} SET state = %s, claimed_at = %s, attempts = attempts + 1,"
        f" message_id = claims.message_id, subject = claims.subject FROM claims"
        f" WHERE {delivery}.id = claims.id AND {delivery}.state = %s"
        f" AND {delivery}.subscriber_id IN (SELECT id FROM {subscriber} WHERE status = %s)"
        f" RETURNING {delivery}.id"
    )


def _claim(batch: list[tuple[Delivery, EmailMultiAlternatives]]) -> list[tuple]:
    """pending -> sending by one conditional UPDATE, so of two workers holding the same
    delivery exactly one changes it; the reader must still be active. Each row takes its
    message's Message-ID and subject. The claims are committed before anything is sent: one
    statement, one round trip to the database, outside any transaction of the caller's own."""
    values = [
        value
        for delivery, message in batch
        for value in (delivery.pk, _message_id(message), message.subject)
    ]
    with connection.cursor() as cursor:
        # Plain SQL: the ORM has no UPDATE ... RETURNING, and would compile an UPDATE per
        # digest, which costs more than the whole SMTP transaction of a small digest.
        cursor.execute(
            _claim_sql(len(batch)), [*values, State.SENDING, timezone.now(), State.PENDING, ACTIVE]
        )
        mine = {pk for (pk,) in cursor.fetchall()}
    return [(delivery, message) for delivery, message in batch if delivery.pk in mine]


def _smtp_reply(exc: smtplib.SMTPRecipientsRefused | smtplib.SMTPResponseException) -> tuple:
    """(code, reply) of a refusal; for refused recipients, the first one's (we send to one)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return next(iter(exc.recipients.values()))
    return exc.smtp_code, exc.smtp_error


def _refusal(delivery: Delivery, code: int, reply: bytes | str, *, by_recipient: bool) -> Outcome:
    """RFC 5321: a 5xx reply is permanent, a 4xx one is worth another try later."""
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    error = f"{code} {text}"
    if code >= 500:
        return Outcome(delivery, State.FAILED, error, bounced=by_recipient)
    attempts = delivery.attempts + 1  # the claim counted this one
    if attempts >= settings.MAIL_MAX_ATTEMPTS:
        return Outcome(delivery, State.FAILED, f"gave up after {attempts} attempts: {error}")
    return Outcome(delivery, State.PENDING, error)


def _unusable_address(delivery: Delivery) -> Outcome | None:
    """An address saved before signup checked addresses may break the To header (a control
    character) or the message (a line break): that digest fails for good, the others go on.
    It never will arrive, so it counts towards a pause as a refused recipient does."""
    try:
        validate_address(delivery.subscriber.email)
    except ValidationError as exc:
        error = f"unusable address: {' '.join(exc.messages)}"
        return Outcome(delivery, State.FAILED, error, bounced=True)
    return None


def _send(
    delivery: Delivery, message: EmailMultiAlternatives, connection: BaseEmailBackend
) -> Outcome:
    if unusable := _unusable_address(delivery):
        return unusable
    try:
        connection.send_messages([message])
    except smtplib.SMTPRecipientsRefused as exc:
        return _refusal(delivery, *_smtp_reply(exc), by_recipient=True)
    except AnymailRecipientsRefused as exc:
        # A relay's API refused the address (its suppression list, an invalid address).
        return Outcome(delivery, State.FAILED, f"refused by the relay: {exc}", bounced=True)
    except smtplib.SMTPResponseException as exc:
        # A refused sender is our problem, not the reader's.
        by_recipient = not isinstance(exc, smtplib.SMTPSenderRefused)
        outcome = _refusal(delivery, exc.smtp_code, exc.smtp_error, by_recipient=by_recipient)
        # 421: the server is closing this connection.
        return replace(outcome, reconnect=exc.smtp_code == 421)
    except (smtplib.SMTPException, OSError) as exc:
        # The connection broke mid-transaction: the server may have taken the message.
        error = f"connection lost while sending: {exc!r}"
        return Outcome(delivery, State.AMBIGUOUS, error, reconnect=True)
    return Outcome(delivery, State.SENT)


def _record(outcomes: list[Outcome], unsent: list[Delivery]) -> None:
    """How the batch went; claimed deliveries that never reached the server (the connection
    could not be reopened) go back to pending. The usual batch, every digest accepted, is one
    statement; `_record` may run again after any of its commits without counting twice."""
    sent = [o.delivery for o in outcomes if o.state == State.SENT]
    Delivery.objects.filter(pk__in=[d.pk for d in sent]).update(
        state=State.SENT, sent_at=timezone.now(), error=""
    )
    # "Repeated" hard failures means in a row: a delivered digest starts the count again.
    # A relay that reports by webhook says later whether it was: its "delivered" event
    # clears the count (relay_events), so that the soft bounces it reports add up.
    recovered = [d.subscriber_id for d in sent if d.subscriber.hard_bounces]
    if recovered and not settings.MAIL_WEBHOOKS:
        clear_failures(subscriber_ids=recovered)
    failed = [outcome for outcome in outcomes if outcome.state != State.SENT]
    if not failed and not unsent:
        return
    with transaction.atomic():
        for outcome in failed:
            # Only from `sending`: recorded again after a commit whose answer was lost, a
            # refusal still counts once towards a pause.
            changed = Delivery.objects.filter(pk=outcome.delivery.pk, state=State.SENDING).update(
                state=outcome.state, error=outcome.error
            )
            if outcome.bounced and changed:
                count_failure(subscriber_id=outcome.delivery.subscriber_id)
        Delivery.objects.filter(pk__in=[d.pk for d in unsent], state=State.SENDING).update(
            state=State.PENDING, attempts=F("attempts") - 1
        )


def _record_surely(outcomes: list[Outcome], unsent: list[Delivery]) -> None:
    """`_record`, tried again on a new database connection when the connection breaks (a
    database restart, a killed backend); `_record` may run twice without counting twice."""
    for attempt in range(1, RECORD_TRIES + 1):
        try:
            return _record(outcomes, unsent)
        except (OperationalError, InterfaceError):
            # Within an outer transaction (a dry run) a new connection would not help.
            if attempt == RECORD_TRIES or connection.in_atomic_block:
                raise
            log.warning("database connection lost recording sends; retry %d", attempt)
            connection.close()
            time.sleep(attempt)


def count_failure(*, subscriber_id: int) -> None:
    """One more failure in a row: the reader pauses at MAIL_MAX_HARD_FAILURES."""
    Subscriber.objects.filter(pk=subscriber_id).update(hard_bounces=F("hard_bounces") + 1)
    Subscriber.objects.filter(
        pk=subscriber_id, status=ACTIVE, hard_bounces__gte=settings.MAIL_MAX_HARD_FAILURES
    ).update(status=Subscriber.Status.PAUSED)


def clear_failures(*, subscriber_ids: list[int]) -> None:
    Subscriber.objects.filter(pk__in=subscriber_ids, hard_bounces__gt=0).update(hard_bounces=0)


def _open(connection: BaseEmailBackend) -> None:
    try:
        connection.open()
    except (smtplib.SMTPException, OSError) as exc:
        raise MailServerUnavailable(f"cannot open an SMTP connection: {exc!r}") from exc


def _reconnect(connection: BaseEmailBackend) -> None:
    connection.close()
    _open(connection)


def _send_batch(batch: list[Delivery], connection: BaseEmailBackend) -> list[Outcome]:
    claimed = _claim([(d, digest_message(delivery=d)) for d in batch])
    outcomes: list[Outcome] = []
    in_flight = None
    try:
        for delivery, message in claimed:
            in_flight = delivery
            outcomes.append(_send(delivery, message, connection))
            in_flight = None
            if outcomes[-1].reconnect:
                _reconnect(connection)
    finally:
        # Interrupted mid-send, a digest stays `sending` (the server may have it); those
        # after it never left and can wait for the next try.
        done = {outcome.delivery.pk for outcome in outcomes}
        unsent = [d for d, _ in claimed if d.pk not in done and d is not in_flight]
        _record_surely(outcomes, unsent)
    return outcomes


def send_chunk(
    *, delivery_ids: list[int], connection: BaseEmailBackend | None = None
) -> SendReport:
    """Send the pending digests among `delivery_ids` over one connection (every SMTP
    connection has settings.EMAIL_TIMEOUT). Raises MailServerUnavailable when no connection
    opens; what was sent before that stays sent, the rest stays pending."""
    report = SendReport(skipped=_drop_departed(delivery_ids) + _drop_emptied(delivery_ids))
    deliveries = _pending(delivery_ids)
    if not deliveries:
        return report
    connection = connection or get_connection()
    _open(connection)
    try:
        for batch in batched(deliveries, CLAIM_BATCH):
            outcomes = _send_batch(batch, connection)
            report.skipped += len(batch) - len(outcomes)
            report.count(outcomes)
    finally:
        connection.close()
    return report


# --- Runs: scheduled, by hand, dry ---------------------------------------------------------


def recover(*, now: datetime) -> list[int]:
    """Repair what dead workers and lost tasks leave behind; returns the pending deliveries
    to queue again (a duplicate in the queue is harmless: the claim decides)."""
    stale = now - timedelta(minutes=settings.MAIL_STALE_AFTER_MINUTES)
    Delivery.objects.filter(state=State.SENDING, claimed_at__lt=stale).update(
        state=State.AMBIGUOUS,
        error="its worker stopped while sending: the server may have accepted it; not resent",
    )
    _drop_departed()
    Delivery.objects.filter(state=State.PENDING, created_at__lt=now - GIVE_UP_AFTER).update(
        state=State.FAILED, error="not sent within a day of planning: given up"
    )
    waiting = Delivery.objects.filter(state=State.PENDING).annotate(
        last_try=Coalesce("claimed_at", "created_at")
    )
    return list(waiting.filter(last_try__lt=stale).order_by("pk").values_list("pk", flat=True))


def schedule(*, now: datetime) -> list[list[int]]:
    """The scheduled run: repair, plan everyone whose hour has come (ranked per local date in
    one batch), and return the pending deliveries in chunks for the send tasks."""
    delivery_ids = recover(now=now)
    for day, subscriber_ids in due_subscribers(now=now).items():
        delivery_ids += plan(day=day, subscriber_ids=subscriber_ids)
    return list(batched(delivery_ids, settings.MAIL_CHUNK_SIZE))


def send_day(*, day: date, connection: BaseEmailBackend | None = None) -> SendReport:
    """Every active subscriber without a digest for `day` gets one now, whatever their
    delivery hour (weekly readers on their weekday only), through the planning and sending
    of the scheduled runs; so do those whose digest for `day` an earlier run planned but
    could not send."""
    waiting = (
        Subscriber.objects.filter(status=ACTIVE)
        .filter(Q(digest_weekday=None) | Q(digest_weekday=day.weekday()))
        .exclude(deliveries__local_date=day)
    )
    plan(day=day, subscriber_ids=list(waiting.values_list("pk", flat=True)))
    pending = Delivery.objects.filter(local_date=day, state=State.PENDING).order_by("pk")
    report = SendReport()
    for chunk in batched(list(pending.values_list("pk", flat=True)), settings.MAIL_CHUNK_SIZE):
        report.add(send_chunk(delivery_ids=chunk, connection=connection))
    return report


def dry_run(*, day: date, folder: Path) -> SendReport:
    """`send_day` with each message written to `folder` as an .eml file and every database
    change rolled back: nothing is sent and nothing is recorded."""
    with transaction.atomic():
        report = send_day(day=day, connection=FolderBackend(folder=folder))
        transaction.set_rollback(True)
    return report


def send_notice(*, subscriber_id: int, notice: str) -> None:
    """A confirmation or "already subscribed" email. Raises SMTP errors worth another try
    (the task retries them) and NoticeRefused for a permanent (5xx) refusal."""
    subscriber = Subscriber.objects.get(pk=subscriber_id)
    compose = {
        Notice.CONFIRM: confirmation_message,
        Notice.ALREADY_SUBSCRIBED: already_subscribed_message,
        Notice.CONFIRM_ADDRESS: address_change_message,
    }[Notice(notice)]
    try:
        compose(subscriber=subscriber).send()
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException) as exc:
        code, reply = _smtp_reply(exc)
        if code >= 500:
            raise NoticeRefused(f"{code} {reply!r}") from exc
        raise


def archived_papers(*, day: date, paper_ids: list[str]) -> list[Paper]:
    """The papers named in a "view in browser" link that were mailed on `day`, in the link's
    order: the link can show what some digest held, never what others were sent."""
    mailed = DeliveryItem.objects.filter(
        delivery__local_date=day, delivery__state=State.SENT, paper_id__in=paper_ids
    )
    papers = list(with_cards(visible_papers()).filter(pk__in=mailed.values("paper_id")))
    return sorted(papers, key=lambda paper: paper_ids.index(paper.pk))
