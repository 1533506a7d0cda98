"""Bounces, complaints and mailto: unsubscribes as a relay reports them: Postmark's documented
webhook payloads replayed through django-anymail's views, then a real send to an SMTP sink."""

import base64
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from digest.models import Subscriber
from digest.services import delivery
from digest.services.emails.compose import list_headers

PAYLOADS = Path(__file__).parent / "relay_payloads"
SECRET = "relay:s3cret-for-the-test"
DAY = date(2026, 6, 12)
# The addresses in Postmark's documented payloads.
BOUNCED = "john@example.com"
INBOUND_TO = "yourhash+SampleHash@inbound.postmarkapp.com"
INBOUND_FROM = "support@postmarkapp.com"
Status = Subscriber.Status


@pytest.fixture
def webhooks(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    settings.MAIL_WEBHOOKS = True


def _reader(email: str, **fields) -> Subscriber:
    fields = {"status": Status.ACTIVE, "interests": "LLM agents", "digest_size": 3, **fields}
    return Subscriber.objects.create(email=email, **fields)


def _post(
    client,
    hook: str,
    payload: str = "",
    *,
    body: str = "",
    auth: str | None = SECRET,
    relay: str = "postmark",
):
    headers = {}
    if auth is not None:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(auth.encode()).decode()
    body = body or (PAYLOADS / payload).read_bytes()
    return client.post(f"/mail/{relay}/{hook}/", body, content_type="application/json", **headers)


@pytest.mark.parametrize(
    ("payload", "because"),
    [
        ("postmark_hard_bounce.json", Subscriber.Unsubscribed.HARD_BOUNCE),
        ("postmark_spam_complaint.json", Subscriber.Unsubscribed.COMPLAINT),
    ],
)
def test_a_hard_bounce_or_complaint_stops_all_mail_to_the_address(
    client, webhooks, corpus, smtp_server, payload, because
):
    bounced, other = _reader(BOUNCED), _reader("other@example.org")
    assert _post(client, "tracking", payload).status_code == 200
    bounced.refresh_from_db()
    assert bounced.status == Status.UNSUBSCRIBED and bounced.unsubscribed_at
    assert bounced.unsubscribed_because == because
    assert bounced.unsubscribed_detail.startswith("Postmark:")
    report = delivery.send_day(day=DAY)
    assert report.sent == 1
    assert smtp_server.to(BOUNCED) == [] and len(smtp_server.to(other.email)) == 1


def test_a_replayed_event_changes_nothing_more(client, webhooks, db):
    reader = _reader(BOUNCED)
    for _ in range(2):
        assert _post(client, "tracking", "postmark_hard_bounce.json").status_code == 200
    first = Subscriber.objects.get(pk=reader.pk).unsubscribed_at
    assert _post(client, "tracking", "postmark_spam_complaint.json").status_code == 200
    reader.refresh_from_db()
    # The first reason and time stay: the bounce came first.
    assert reader.unsubscribed_at == first
    assert reader.unsubscribed_because == Subscriber.Unsubscribed.HARD_BOUNCE


@pytest.mark.parametrize("auth", [None, "relay:wrong", "someone:else"])
def test_an_unauthenticated_webhook_is_refused_and_changes_nothing(client, webhooks, db, auth):
    reader = _reader(BOUNCED)
    assert _post(client, "tracking", "postmark_spam_complaint.json", auth=auth).status_code == 400
    assert Subscriber.objects.get(pk=reader.pk).status == Status.ACTIVE


def test_without_a_configured_secret_every_webhook_is_refused(client, db):
    # The default settings: no ANYMAIL_WEBHOOK_SECRET in the environment.
    reader = _reader(BOUNCED)
    for auth in (None, SECRET):
        response = _post(client, "tracking", "postmark_hard_bounce.json", auth=auth)
        assert response.status_code == 400
    assert Subscriber.objects.get(pk=reader.pk).status == Status.ACTIVE


def test_soft_bounces_pause_after_repeated_failures_and_a_delivery_restarts_the_count(
    client, webhooks, settings, db
):
    settings.MAIL_MAX_HARD_FAILURES = 3
    reader = _reader(BOUNCED)
    for _ in range(2):
        assert _post(client, "tracking", "postmark_soft_bounce.json").status_code == 200
    reader.refresh_from_db()
    assert (reader.status, reader.hard_bounces) == (Status.ACTIVE, 2)
    assert _post(client, "tracking", "postmark_delivery.json").status_code == 200
    assert Subscriber.objects.get(pk=reader.pk).hard_bounces == 0
    for _ in range(3):
        _post(client, "tracking", "postmark_soft_bounce.json")
    reader.refresh_from_db()
    # Paused, not unsubscribed: the reader may vouch for the address and resume.
    assert (reader.status, reader.hard_bounces) == (Status.PAUSED, 3)


@pytest.mark.parametrize(
    ("bounce_type", "name"), [("Blocked", "ISP block"), ("DMARCPolicy", "DMARC Policy")]
)
def test_a_block_of_our_mail_pauses_at_most_and_never_unsubscribes(
    client, webhooks, db, bounce_type, name
):
    """A receiving server that blocks our mail (our IP's reputation, our DMARC) would block
    it for every reader there: unsubscribing them all at once would lose the list. Derived
    from Postmark's recorded hard bounce, with the type and name of its bounce-type table."""
    payload = json.loads((PAYLOADS / "postmark_hard_bounce.json").read_text())
    payload.update(Type=bounce_type, Name=name)
    reader = _reader(BOUNCED)
    for _ in range(3):
        assert _post(client, "tracking", body=json.dumps(payload)).status_code == 200
    reader.refresh_from_db()
    assert (reader.status, reader.hard_bounces) == (Status.PAUSED, 3)
    assert reader.unsubscribed_because == ""


def _brevo(client, event: str):
    """A Brevo transactional webhook call in the shape of Brevo's documented example
    (developers.brevo.com, transactional webhooks), written here: no Brevo recording."""
    payload = {
        "event": event,
        "email": BOUNCED,
        "id": 26224,
        "date": "2018-08-17 08:18:02",
        "ts": 1534486682,
        "message-id": "<201798300811.5787683@relay.domain.com>",
        "ts_event": 1534486682,
        "subject": "My first Transactional",
        "ts_epoch": 1534486682000,
        "reason": "mailbox full",
    }
    return _post(client, "tracking", body=json.dumps(payload), relay="brevo")


def test_a_brevo_soft_bounce_counts_and_its_hard_bounce_unsubscribes(client, webhooks, db):
    # Anymail reports both as "bounced"; only Brevo's own event name tells them apart.
    reader = _reader(BOUNCED)
    assert _brevo(client, "soft_bounce").status_code == 200
    reader.refresh_from_db()
    assert (reader.status, reader.hard_bounces) == (Status.ACTIVE, 1)
    assert _brevo(client, "hard_bounce").status_code == 200
    reader.refresh_from_db()
    assert reader.unsubscribed_because == Subscriber.Unsubscribed.HARD_BOUNCE


def test_with_webhooks_the_relays_acceptance_does_not_restart_the_count(
    client, webhooks, corpus, smtp_server
):
    reader = _reader(BOUNCED, hard_bounces=2)
    assert delivery.send_day(day=DAY).sent == 1
    # Accepted is not delivered: only the relay's later event says so.
    assert Subscriber.objects.get(pk=reader.pk).hard_bounces == 2


def _inbound_to(address: str) -> str:
    """Postmark's documented inbound payload, addressed to `address` instead of its sample
    (derived: the recording has no digest's List-Unsubscribe address in it)."""
    payload = json.loads((PAYLOADS / "postmark_inbound.json").read_text())
    payload["To"] = payload["OriginalRecipient"] = address
    payload["ToFull"] = [{"Email": address, "Name": "", "MailboxHash": ""}]
    return json.dumps(payload)


def test_mail_to_a_readers_list_unsubscribe_address_unsubscribes_that_reader(
    client, webhooks, settings, db
):
    from digest.services.subscriptions import unsubscribe_mailto

    settings.MAIL_UNSUBSCRIBE_MAILTO = INBOUND_TO
    reader, other = _reader("alice@example.org"), _reader("other@example.org")
    address = unsubscribe_mailto(subscriber=reader)
    # Sent from another mailbox (the recording's From): the address itself says who.
    assert _post(client, "inbound", body=_inbound_to(address)).status_code == 200
    reader.refresh_from_db()
    assert reader.status == Status.UNSUBSCRIBED
    assert reader.unsubscribed_because == Subscriber.Unsubscribed.MAIL
    assert Subscriber.objects.get(pk=other.pk).status == Status.ACTIVE


def test_a_forged_from_or_a_guessed_address_unsubscribes_nobody(client, webhooks, settings, db):
    from digest.services.subscriptions import unsubscribe_mailto

    settings.MAIL_UNSUBSCRIBE_MAILTO = "unsubscribe@digest.example.org"
    # The recording's From is this reader's address: anyone can write that header.
    sender = _reader(INBOUND_FROM)
    genuine = unsubscribe_mailto(subscriber=sender)
    local, _, domain = genuine.partition("@")
    guessed = local[:-1] + ("0" if local[-1] != "0" else "1") + "@" + domain
    for address in ("unsubscribe@digest.example.org", guessed, f"unsubscribe+{sender.pk}@{domain}"):
        assert _post(client, "inbound", body=_inbound_to(address)).status_code == 200
    assert _post(client, "inbound", "postmark_inbound.json").status_code == 200
    assert Subscriber.objects.get(pk=sender.pk).status == Status.ACTIVE


def test_list_unsubscribe_offers_mailto_only_where_the_inbound_webhook_reads_it(settings, db):
    from digest.services.subscriptions import unsubscribe_mailto

    reader = _reader("alice@example.org")
    settings.MAIL_UNSUBSCRIBE_MAILTO = "unsubscribe@digest.example.org"
    settings.MAIL_WEBHOOKS = False
    assert unsubscribe_mailto(subscriber=reader) == ""
    settings.MAIL_WEBHOOKS = True
    address = unsubscribe_mailto(subscriber=reader)
    assert re.fullmatch(rf"unsubscribe\+{reader.pk}-[0-9a-f]{{16}}@digest\.example\.org", address)
    header = list_headers(unsubscribe="https://x.example/u/1/", mailto=address)
    assert header["List-Unsubscribe"].endswith(f"<mailto:{address}?subject=unsubscribe>")
    assert (
        "mailto:"
        not in list_headers(unsubscribe="https://x.example/u/1/", mailto="")["List-Unsubscribe"]
    )


def test_a_reader_who_signs_up_again_loses_the_old_reason(client, webhooks, db):
    from digest.services.subscriptions import Preferences, subscribe

    _reader(BOUNCED)
    _post(client, "tracking", "postmark_hard_bounce.json")
    preferences = Preferences(
        interests="LLM agents", categories=[], delivery_hour=8, timezone="UTC", digest_size=5
    )
    subscribe(email=BOUNCED, preferences=preferences)
    again = Subscriber.objects.get(email=BOUNCED)
    assert (again.status, again.unsubscribed_because) == (Status.PENDING, "")


def test_a_bounce_from_before_the_reader_confirmed_changes_nothing(client, webhooks, db):
    """A relay retries a webhook for hours, and a captured call can be replayed: a bounce or
    complaint older than the reader's (re)confirmation of the address is about mail they no
    longer get. Postmark's recorded events happened on 5 November 2019."""
    vouched = _reader(BOUNCED, confirmed_at=datetime(2019, 11, 6, tzinfo=UTC))
    for payload in ("postmark_hard_bounce.json", "postmark_soft_bounce.json"):
        assert _post(client, "tracking", payload).status_code == 200
    vouched.refresh_from_db()
    assert (vouched.status, vouched.hard_bounces) == (Status.ACTIVE, 0)
    # Confirmed before it: the bounce counts.
    Subscriber.objects.filter(pk=vouched.pk).update(confirmed_at=datetime(2019, 11, 4, tzinfo=UTC))
    _post(client, "tracking", "postmark_hard_bounce.json")
    assert Subscriber.objects.get(pk=vouched.pk).status == Status.UNSUBSCRIBED


def test_the_readers_page_says_why_the_mail_stopped(client, webhooks, db):
    from digest.services.subscriptions import preferences_token

    reader = _reader(BOUNCED)
    _post(client, "tracking", "postmark_spam_complaint.json")
    reader.refresh_from_db()
    html = client.get(f"/preferences/{preferences_token(subscriber=reader)}/").content.decode()
    assert "reported as spam from your mailbox" in html


def _mailgun(client, *, signed_with: str):
    """Mailgun's documented permanent failure, signed as Mailgun signs it (HMAC-SHA256 of
    timestamp and token) with the key `signed_with`."""
    import hashlib
    import hmac

    payload = json.loads((PAYLOADS / "mailgun_permanent_failure.json").read_text())
    block = payload["signature"]
    block["signature"] = hmac.new(
        signed_with.encode(), (block["timestamp"] + block["token"]).encode(), hashlib.sha256
    ).hexdigest()
    return _post(client, "tracking", body=json.dumps(payload), relay="mailgun")


def test_a_signed_mailgun_failure_suppresses_and_a_forged_signature_is_refused(
    client, webhooks, settings, db
):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": "mg-key"}
    reader = _reader("alice@example.com")
    # The basic auth is right but the signature is not: refused.
    assert _mailgun(client, signed_with="not-the-key").status_code == 400
    assert Subscriber.objects.get(pk=reader.pk).status == Status.ACTIVE
    assert _mailgun(client, signed_with="mg-key").status_code == 200
    reader.refresh_from_db()
    assert reader.status == Status.UNSUBSCRIBED
    assert reader.unsubscribed_because == Subscriber.Unsubscribed.HARD_BOUNCE
    assert "Not delivering to previously bounced address" in reader.unsubscribed_detail
