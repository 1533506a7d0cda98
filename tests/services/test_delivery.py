"""Planning and sending digests exactly once, against PostgreSQL and a real SMTP server."""

from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from digest.models import Delivery, DeliveryItem, Paper, Subscriber
from digest.services import delivery
from digest.services.delivery import MailServerUnavailable
from digest.services.emails.compose import digest_message
from digest.services.moderation import PaperAction, moderate_papers
from tests.conftest import free_port
from tests.services.test_compose import assert_same_as_straightforward

pytestmark = pytest.mark.django_db
DAY = date(2026, 6, 12)
State = Delivery.State


def _reader(email: str, **fields) -> Subscriber:
    fields = {"status": Subscriber.Status.ACTIVE, "interests": "LLM agents", **fields}
    return Subscriber.objects.create(email=email, **fields)


@pytest.fixture
def readers(corpus):
    return [_reader(f"r{i}@example.org", digest_size=3) for i in range(4)]


def _plan(readers) -> list[int]:
    return delivery.plan(day=DAY, subscriber_ids=[r.pk for r in readers])


# --- Who is due --------------------------------------------------------------------------


def test_due_readers_around_midnight_utc(db):
    tokyo = _reader("tokyo@example.org", timezone="Asia/Tokyo", delivery_hour=8)
    la = _reader("la@example.org", timezone="America/Los_Angeles", delivery_hour=8)
    utc_late = _reader("late@example.org", timezone="UTC", delivery_hour=23)
    utc_morning = _reader("morning@example.org", timezone="UTC", delivery_hour=8)
    kiritimati = _reader("kiri@example.org", timezone="Pacific/Kiritimati", delivery_hour=13)
    _reader("paused@example.org", status=Subscriber.Status.PAUSED, delivery_hour=0)
    _reader("pending@example.org", status=Subscriber.Status.PENDING, delivery_hour=0)
    _reader("gone@example.org", status=Subscriber.Status.UNSUBSCRIBED, delivery_hour=0)

    # 23:30 UTC on 12 June: 08:30 on the 13th in Tokyo, 16:30 on the 12th in Los Angeles,
    # 13:30 on the 13th on Kiritimati (UTC+14).
    before = delivery.due_subscribers(now=datetime(2026, 6, 12, 23, 30, tzinfo=UTC))
    assert before == {
        date(2026, 6, 13): [tokyo.pk, kiritimati.pk],
        date(2026, 6, 12): [la.pk, utc_late.pk, utc_morning.pk],
    }
    # Ten minutes later it is the 13th in UTC too, but 00:10 is before anyone's hour there.
    Delivery.objects.create(subscriber=utc_morning, local_date=date(2026, 6, 12))
    after = delivery.due_subscribers(now=datetime(2026, 6, 13, 0, 10, tzinfo=UTC))
    assert after == {
        date(2026, 6, 13): [tokyo.pk, kiritimati.pk],
        date(2026, 6, 12): [la.pk],
    }


def test_a_reader_with_a_digest_for_their_local_date_gets_no_second_one(readers):
    Subscriber.objects.update(timezone="Asia/Tokyo", delivery_hour=8)
    # Sent by hand earlier: send_day plans as the scheduler does.
    delivery.plan(day=date(2026, 6, 13), subscriber_ids=[readers[0].pk])
    Delivery.objects.update(state=State.SENT)
    planned = delivery.schedule(now=datetime(2026, 6, 12, 23, 30, tzinfo=UTC))
    assert sum(len(chunk) for chunk in planned) == 3
    # Later runs that day add nothing; the next local day everyone is due again.
    assert delivery.schedule(now=datetime(2026, 6, 13, 5, 0, tzinfo=UTC)) == []
    planned = delivery.schedule(now=datetime(2026, 6, 13, 23, 30, tzinfo=UTC))
    assert sum(len(chunk) for chunk in planned) == 4
    assert Delivery.objects.filter(local_date=date(2026, 6, 14)).count() == 4


def test_an_unknown_time_zone_falls_back_to_utc(db):
    odd = _reader("odd@example.org", timezone="Mars/Olympus_Mons", delivery_hour=8)
    now = datetime(2026, 6, 12, 9, 0, tzinfo=UTC)
    assert delivery.due_subscribers(now=now) == {date(2026, 6, 12): [odd.pk]}


# --- Planning ----------------------------------------------------------------------------


def test_planning_records_each_readers_ranked_papers_once(readers):
    ids = _plan(readers)
    assert len(ids) == 4
    for reader in readers:
        planned = Delivery.objects.get(subscriber=reader, local_date=DAY)
        assert planned.state == State.PENDING
        items = list(planned.items.order_by("position"))
        # Their three papers for "LLM agents", then the day's three most talked-about.
        assert [i.position for i in items] == list(range(6))
        assert [i.section for i in items] == ["for_you"] * 3 + ["trending"] * 3
        assert all(item.why for item in items)
    # Planning again (a second beat process, a retried task) adds nothing.
    assert _plan(readers) == []
    assert Delivery.objects.count() == 4 and DeliveryItem.objects.count() == 24


def test_an_empty_digest_is_not_planned(readers):
    assert delivery.plan(day=date(2000, 1, 1), subscriber_ids=[r.pk for r in readers]) == []
    assert not Delivery.objects.exists()


def test_a_reader_whose_interests_match_nothing_gets_no_email(readers, smtp_server):
    unmatched = _reader(
        "nothing@example.org", interests="medieval palaeography of monastic charters"
    )
    assert _plan([unmatched]) == []
    Subscriber.objects.filter(pk=unmatched.pk).update(send_when_empty=True)
    (planned,) = _plan([unmatched])
    assert delivery.send_chunk(delivery_ids=[planned]).sent == 1
    (message,) = smtp_server.to(unmatched.email)
    text = message.get_body(("plain",)).get_content()
    assert "Nothing matched your interests today." in text and "TRENDING TODAY" in text


# --- Sending -----------------------------------------------------------------------------


def test_a_chunk_goes_out_over_one_connection_and_is_recorded(readers, smtp_server):
    ids = _plan(readers)
    report = delivery.send_chunk(delivery_ids=ids)
    assert (report.sent, report.failed, report.skipped, report.retry) == (4, 0, 0, [])
    assert smtp_server.connections == 1
    for reader in readers:
        (message,) = smtp_server.to(reader.email)
        sent = Delivery.objects.get(subscriber=reader)
        assert (sent.state, sent.attempts, sent.error) == (State.SENT, 1, "")
        assert sent.sent_at is not None and sent.message_id == message["Message-ID"]
        assert sent.subject == message["Subject"]


def test_a_chunk_is_loaded_once_and_composed_without_a_query(readers, django_assert_num_queries):
    ids = _plan(readers)
    with django_assert_num_queries(4):  # deliveries with readers, items, papers, code links
        loaded = delivery._pending(ids)
    with django_assert_num_queries(0):
        for sent in loaded:
            digest_message(delivery=sent)
    # The same digests as from each delivery's own items, rendered the straightforward way.
    for sent in loaded:
        assert_same_as_straightforward(sent, reference=Delivery.objects.get(pk=sent.pk))


def test_sending_the_same_chunk_again_sends_nothing(readers, smtp_server):
    ids = _plan(readers)
    delivery.send_chunk(delivery_ids=ids)
    again = delivery.send_chunk(delivery_ids=ids)
    assert again.sent == 0 and len(smtp_server.messages) == 4


def test_a_reader_who_leaves_after_planning_gets_nothing(readers, smtp_server):
    ids = _plan(readers)
    gone, paused = readers[0], readers[1]
    Subscriber.objects.filter(pk=gone.pk).update(status=Subscriber.Status.UNSUBSCRIBED)
    Subscriber.objects.filter(pk=paused.pk).update(status=Subscriber.Status.PAUSED)
    report = delivery.send_chunk(delivery_ids=ids)
    assert (report.sent, report.skipped) == (2, 2)
    assert not smtp_server.to(gone.email) and not smtp_server.to(paused.email)
    # Nothing went out, so nothing is marked as sent to them.
    assert not Delivery.objects.filter(subscriber__in=[gone, paused]).exists()


def _hide(paper_ids: list[str]) -> None:
    moderate_papers(paper_ids=paper_ids, action=PaperAction.HIDE, actor=None, reason="spam")


def test_a_paper_hidden_after_planning_is_not_mailed(readers, smtp_server):
    ids = _plan(readers)
    reader = readers[0]
    planned = list(
        DeliveryItem.objects.filter(delivery__subscriber=reader).values_list("paper_id", flat=True)
    )
    _hide(planned[:1])
    report = delivery.send_chunk(delivery_ids=ids)
    assert report.sent == 4
    (message,) = smtp_server.to(reader.email)
    body = message.get_body(("plain",)).get_content()
    hidden, shown = Paper.objects.get(pk=planned[0]), Paper.objects.get(pk=planned[1])
    assert hidden.abs_url not in body and shown.abs_url in body


def test_a_digest_whose_every_paper_was_hidden_is_not_sent(readers, smtp_server):
    reader = readers[0]
    # Other interests than the other readers', so that their digests keep papers.
    Subscriber.objects.filter(pk=reader.pk).update(interests="video diffusion models")
    ids = _plan(readers)
    _hide(
        list(
            DeliveryItem.objects.filter(delivery__subscriber=reader).values_list(
                "paper_id", flat=True
            )
        )
    )
    report = delivery.send_chunk(delivery_ids=ids)
    assert (report.sent, report.skipped) == (3, 1)
    assert not smtp_server.to(reader.email)
    # Nothing went out: the reader has no digest for the day, so no "already sent" marks.
    assert not Delivery.objects.filter(subscriber=reader).exists()


def test_a_temporary_refusal_is_retried_and_then_given_up(readers, smtp_server, settings):
    settings.MAIL_MAX_ATTEMPTS = 2
    busy = readers[0]
    smtp_server.refuse[busy.email] = "450 4.2.1 Mailbox busy, try later"
    ids = _plan(readers)
    report = delivery.send_chunk(delivery_ids=ids)
    waiting = Delivery.objects.get(subscriber=busy)
    assert report.sent == 3 and report.retry == [waiting.pk]
    assert (waiting.state, waiting.attempts) == (State.PENDING, 1)
    assert waiting.error.startswith("450")

    final = delivery.send_chunk(delivery_ids=report.retry)
    waiting.refresh_from_db()
    assert final.failed == 1 and waiting.state == State.FAILED
    assert waiting.error.startswith("gave up after 2 attempts: 450")
    # A busy mailbox is no reason to pause the reader.
    assert Subscriber.objects.get(pk=busy.pk).hard_bounces == 0


def test_a_temporary_refusal_then_success(readers, smtp_server):
    reader = readers[0]
    smtp_server.refuse[reader.email] = "451 4.3.0 Temporary local problem"
    (pk,) = delivery.plan(day=DAY, subscriber_ids=[reader.pk])
    assert delivery.send_chunk(delivery_ids=[pk]).retry == [pk]
    smtp_server.refuse.clear()
    assert delivery.send_chunk(delivery_ids=[pk]).sent == 1
    sent = Delivery.objects.get(pk=pk)
    assert (sent.state, sent.attempts, sent.error) == (State.SENT, 2, "")
    assert len(smtp_server.to(reader.email)) == 1


def test_repeated_permanent_failures_pause_the_reader(readers, smtp_server, settings):
    settings.MAIL_MAX_HARD_FAILURES = 2
    reader, others = readers[0], readers[1:]
    smtp_server.refuse[reader.email] = "550 5.1.1 No such user"
    report = delivery.send_chunk(delivery_ids=_plan(readers))
    failed = Delivery.objects.get(subscriber=reader)
    assert (report.sent, report.failed) == (3, 1)
    assert (failed.state, failed.error) == (State.FAILED, "550 5.1.1 No such user")
    assert Subscriber.objects.get(pk=reader.pk).hard_bounces == 1
    assert all(smtp_server.to(other.email) for other in others)

    delivery.send_chunk(
        delivery_ids=delivery.plan(day=DAY + timedelta(days=1), subscriber_ids=[reader.pk])
    )
    reader.refresh_from_db()
    assert (reader.hard_bounces, reader.status) == (2, Subscriber.Status.PAUSED)


@pytest.mark.parametrize(
    "address",
    [
        '"probe\x0bx-evil\\ :\\ 1"@example.org',
        '"a\nBcc: x@evil.example"@example.org',
        # An encoded word: Django's envelope would name abc@example.org, another mailbox.
        "=?utf-8?q?abc?=@example.org",
    ],
)
def test_an_unsafe_stored_address_fails_its_digest_and_the_batch_goes_on(
    readers, smtp_server, address
):
    # Saved before addresses were checked at signup: it would break the To header, or go to
    # another address.
    unsafe = _reader(address, digest_size=3)
    report = delivery.send_chunk(delivery_ids=_plan([readers[0], unsafe, *readers[1:]]))
    assert (report.sent, report.failed, report.retry) == (4, 1, [])
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(r.email for r in readers)
    failed = Delivery.objects.get(subscriber=unsafe)
    assert failed.state == State.FAILED
    assert failed.error.startswith("unusable address: ")
    # It never will arrive: it counts towards pausing the reader, as a refused one does.
    assert Subscriber.objects.get(pk=unsafe.pk).hard_bounces == 1


def test_a_delivered_digest_resets_the_failure_count(readers, smtp_server):
    reader = readers[0]
    Subscriber.objects.filter(pk=reader.pk).update(hard_bounces=2)
    delivery.send_chunk(delivery_ids=_plan([reader]))
    assert Subscriber.objects.get(pk=reader.pk).hard_bounces == 0


def test_a_connection_lost_mid_message_is_never_resent(readers, smtp_server):
    dropped = readers[1]
    smtp_server.drop.add(dropped.email)
    ids = _plan(readers)
    report = delivery.send_chunk(delivery_ids=ids)
    assert (report.sent, report.ambiguous) == (3, 1)
    unknown = Delivery.objects.get(subscriber=dropped)
    assert unknown.state == State.AMBIGUOUS and "connection lost" in unknown.error
    # The server did take it: sending the chunk again must not repeat it.
    delivery.send_chunk(delivery_ids=ids)
    assert len(smtp_server.to(dropped.email)) == 1
    assert smtp_server.connections == 2  # a new connection for the rest of the chunk


def test_no_mail_server_means_nothing_claimed(readers, settings):
    settings.EMAIL_BACKEND = "digest.services.emails.backends.SMTPBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    ids = _plan(readers)
    with pytest.raises(MailServerUnavailable, match="cannot open an SMTP connection"):
        delivery.send_chunk(delivery_ids=ids)
    assert set(Delivery.objects.values_list("state", "attempts")) == {(State.PENDING, 0)}


# --- Recovery, runs by hand and dry runs ----------------------------------------------------


def test_recovery_marks_stale_sends_for_review_and_requeues_lost_tasks(readers, settings):
    settings.MAIL_STALE_AFTER_MINUTES = 30
    ids = _plan(readers)
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    # A worker died mid-send; a task was lost; a fresh plan waits for its task.
    Delivery.objects.filter(pk=ids[0]).update(state=State.SENDING, claimed_at=hour_ago)
    Delivery.objects.filter(pk=ids[1]).update(created_at=hour_ago)
    Delivery.objects.filter(pk=ids[2]).update(created_at=now - timedelta(days=2))
    requeue = delivery.recover(now=now)
    states = dict(Delivery.objects.values_list("pk", "state"))
    assert states == {
        ids[0]: State.AMBIGUOUS,
        ids[1]: State.PENDING,
        ids[2]: State.FAILED,
        ids[3]: State.PENDING,
    }
    assert requeue == [ids[1]]


def test_the_scheduled_run_plans_due_readers_in_chunks(readers, settings):
    settings.MAIL_CHUNK_SIZE = 3
    Subscriber.objects.update(delivery_hour=0, timezone="UTC")
    Subscriber.objects.filter(pk=readers[3].pk).update(timezone="Asia/Tokyo")
    batches = delivery.schedule(now=datetime(2026, 6, 12, 20, 0, tzinfo=UTC))
    assert sorted(len(b) for b in batches) == [1, 3]
    dates = dict(Delivery.objects.values_list("subscriber_id", "local_date"))
    assert dates[readers[3].pk] == date(2026, 6, 13) and dates[readers[0].pk] == DAY
    assert delivery.schedule(now=datetime(2026, 6, 12, 20, 5, tzinfo=UTC)) == []


def test_sending_a_day_by_hand_ignores_the_delivery_hour(readers, smtp_server):
    Subscriber.objects.update(delivery_hour=23, timezone="Pacific/Kiritimati")
    Delivery.objects.create(subscriber=readers[0], local_date=DAY, state=State.SENT)
    report = delivery.send_day(day=DAY)
    assert report.sent == 3 and not smtp_server.to(readers[0].email)
    assert delivery.send_day(day=DAY).sent == 0


def test_a_dry_run_writes_messages_and_records_nothing(readers, smtp_server, tmp_path):
    report = delivery.dry_run(day=DAY, folder=tmp_path / "out")
    files = sorted((tmp_path / "out").glob("*.eml"))
    assert report.sent == len(files) == 4
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in files[0].read_bytes()
    assert not Delivery.objects.exists() and not smtp_server.messages


def test_the_archive_lists_what_was_mailed_that_day(readers, smtp_server):
    ids = _plan(readers[:2])
    delivery.send_chunk(delivery_ids=ids)
    mailed = list(DeliveryItem.objects.filter(delivery_id=ids[0]).order_by("position"))
    wanted = [item.paper_id for item in reversed(mailed)]
    assert [p.pk for p in delivery.archived_papers(day=DAY, paper_ids=wanted)] == wanted
    # Only what was mailed that day: a link cannot list another day's or an unsent paper.
    assert delivery.archived_papers(day=DAY, paper_ids=[]) == []
    assert delivery.archived_papers(day=DAY - timedelta(days=1), paper_ids=wanted) == []


# --- The command ---------------------------------------------------------------------------


def _command(*args: str) -> str:
    out = StringIO()
    call_command("send_digests", *args, stdout=out)
    return out.getvalue()


def test_the_command_sends_a_day_and_reports(readers, smtp_server):
    assert _command("--date", "2026-06-12") == (
        "digests for 2026-06-12: 4 sent, 0 failed, 0 to retry, 0 ambiguous, 0 skipped\n"
    )
    assert len(smtp_server.messages) == 4


def test_the_command_dry_run_writes_to_a_folder(readers, smtp_server, tmp_path):
    out = _command("--date", "2026-06-12", "--dry-run", str(tmp_path))
    assert out == f"dry run for 2026-06-12: 4 messages written to {tmp_path}; nothing sent\n"
    assert len(list(tmp_path.glob("*.eml"))) == 4 and not smtp_server.messages


def test_the_command_refuses_a_bad_date_and_an_unreachable_server(readers, settings):
    with pytest.raises(CommandError, match="expects a date as YYYY-MM-DD, not '2026-02-30'"):
        _command("--date", "2026-02-30")
    settings.EMAIL_BACKEND = "digest.services.emails.backends.SMTPBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    with pytest.raises(CommandError, match="mail server: cannot open an SMTP connection"):
        _command("--date", "2026-06-12")
    assert set(Delivery.objects.values_list("state", flat=True)) == {State.PENDING}


def test_the_command_sends_what_an_earlier_run_could_not(readers, smtp_server):
    delivery.plan(day=DAY, subscriber_ids=[r.pk for r in readers])  # then the server was down
    assert "4 sent" in _command("--date", "2026-06-12")
    assert len(smtp_server.messages) == 4
