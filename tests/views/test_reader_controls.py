"""Reader controls through the pages: a new address confirmed from that address, a copy and the
deletion of one's data, taking back a "more / less like this", the list of past digests.
Emails go to a real SMTP server; digests are ranked from the recorded corpus."""

import json
import re
from datetime import date

import pytest

from digest.models import AuditLog, Delivery, DeliveryItem, PaperFeedback, Subscriber
from digest.services import delivery, subscriptions

pytestmark = pytest.mark.django_db
DAY = date(2026, 6, 12)
OLD, NEW = "ada@example.org", "ada@new.example.org"
Status = Subscriber.Status


@pytest.fixture(autouse=True)
def mail(redis_cache, eager_tasks, smtp_server, settings):
    settings.SITE_URL = "http://testserver"
    return smtp_server


@pytest.fixture
def reader(corpus):
    return Subscriber.objects.create(
        email=OLD, status=Status.ACTIVE, interests="LLM agents", digest_size=3
    )


def _page(reader: Subscriber) -> str:
    return f"/preferences/{subscriptions.preferences_token(subscriber=reader)}/"


def _post(client, url: str, data: dict, capture):
    with capture(execute=True):
        return client.post(url, data)


def _send_today(mail) -> list[str]:
    """A send of DAY to everyone; the addresses that got a digest."""
    before = len(mail.raw)
    delivery.send_day(day=DAY)
    return [message["To"] for message in mail.messages[before:]]


# --- A new address -------------------------------------------------------------------------


def _ask_for(address: str, client, reader: Subscriber, capture) -> None:
    """The reader asks for `address` on their page."""
    _post(client, _page(reader), {"action": "change-address", "new_email": address}, capture)


def _link(mail, address: str) -> str:
    """The confirmation link in the one email `address` got."""
    (message,) = mail.to(address)
    (link,) = re.findall(
        r"http://testserver(/address/\S+/)", message.get_body(("plain",)).get_content()
    )
    return link


def test_a_new_address_takes_effect_only_once_confirmed_there(
    client, reader, mail, django_capture_on_commit_callbacks
):
    response = _post(
        client,
        _page(reader),
        {"action": "change-address", "new_email": NEW},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 302
    (message,) = mail.to(NEW)
    assert message["Subject"] == "Confirm the new address of your paper digest"
    # Until confirmed, nothing changes: the digest still goes to the old address.
    reader.refresh_from_db()
    assert (reader.email, reader.pending_email) == (OLD, NEW)
    assert _send_today(mail) == [OLD]

    (link,) = re.findall(
        r"http://testserver(/address/\S+/)", message.get_body(("plain",)).get_content()
    )
    # Opening the link (a mail scanner does) changes nothing; the button does.
    assert NEW in client.get(link).content.decode()
    assert Subscriber.objects.get(pk=reader.pk).email == OLD
    assert client.post(link).status_code == 200
    reader.refresh_from_db()
    assert (reader.email, reader.pending_email) == (NEW, "")
    # The old mailbox's links no longer open the preferences.
    assert client.get(_page(Subscriber(pk=reader.pk, link_generation=0))).status_code == 400
    # And a used link cannot be used again.
    assert client.post(link).status_code == 400


def test_an_address_another_reader_has_is_refused_at_confirmation(
    client, reader, mail, django_capture_on_commit_callbacks
):
    Subscriber.objects.create(email=NEW, status=Status.ACTIVE, interests="x")
    _ask_for(NEW, client, reader, django_capture_on_commit_callbacks)
    link = _link(mail, NEW)
    response = client.post(link)
    assert response.status_code == 400
    assert "Another subscription already uses this address" in response.content.decode()
    assert Subscriber.objects.get(pk=reader.pk).email == OLD


def test_a_link_mailed_to_one_new_address_never_confirms_another(
    client, reader, mail, django_capture_on_commit_callbacks
):
    """The link names the address it was mailed to. These two have the same CRC-32 (found by
    search): a checksum would let a link from a mailbox one owns confirm a stranger's."""
    mine, strangers = "new-zutdocbjiv@example.org", "new-xvmxlgbdlh@example.org"
    for address in (mine, strangers):
        _ask_for(address, client, reader, django_capture_on_commit_callbacks)
    assert client.post(_link(mail, mine)).status_code == 400
    assert Subscriber.objects.get(pk=reader.pk).email == OLD


def test_a_bad_new_address_is_shown_with_its_error(client, reader, mail):
    response = client.post(
        _page(reader), {"action": "change-address", "new_email": "not an address"}
    )
    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert Subscriber.objects.get(pk=reader.pk).pending_email == ""
    assert mail.raw == []


# --- My data -------------------------------------------------------------------------------


def _history(reader: Subscriber, client) -> None:
    """A digest sent, and a "more like this" on its first paper."""
    (planned,) = delivery.plan(day=DAY, subscriber_ids=[reader.pk])
    delivery.send_chunk(delivery_ids=[planned])
    first = DeliveryItem.objects.filter(delivery_id=planned).order_by("position").first()
    token = subscriptions.feedback_token(subscriber=reader, delivery_id=planned)
    assert client.post(f"/feedback/{token}/{first.paper_id}/more/").status_code == 200


def test_download_my_data(client, reader):
    _history(reader, client)
    response = client.post(_page(reader), {"action": "download-data"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="my-digest-data.json"'
    data = json.loads(response.content)
    assert data["subscriber"]["email"] == OLD
    assert data["subscriber"]["interests"] == "LLM agents"
    assert "topic_vectors" not in data["subscriber"] and "feed_token" not in data["subscriber"]
    (sent,) = data["deliveries"]
    assert sent["date"] == "2026-06-12" and sent["state"] == "sent" and len(sent["papers"]) == 6
    assert data["feedback"][0]["kind"] == "like"


def test_delete_my_data_removes_everything_personal_and_stops_the_mail(client, reader, mail):
    _history(reader, client)
    page = _page(reader)
    # The first button asks; nothing is gone yet.
    assert "Delete everything" in client.post(page, {"action": "delete-data"}).content.decode()
    assert Subscriber.objects.filter(pk=reader.pk).exists()
    response = client.post(page, {"action": "delete-data-confirmed"})
    assert "Your data is deleted" in response.content.decode()
    assert not Subscriber.objects.filter(email=OLD).exists()
    assert not PaperFeedback.objects.exists() and not Delivery.objects.exists()
    assert not DeliveryItem.objects.exists()
    # Audited as counts only: no address, no interests.
    (entry,) = AuditLog.objects.filter(action="delete-reader-data")
    assert entry.before == {"feedback": 1, "deliveries": 1, "delivery_items": 6}
    assert OLD not in json.dumps([entry.before, entry.after, entry.reason])
    assert _send_today(mail) == []
    # Its links lead nowhere now.
    assert client.get(page).status_code == 400


# --- Feedback, taken back ------------------------------------------------------------------


def test_undo_a_more_like_this(client, reader):
    (planned,) = delivery.plan(day=DAY, subscriber_ids=[reader.pk])
    paper_id = DeliveryItem.objects.filter(delivery_id=planned).first().paper_id
    token = subscriptions.feedback_token(subscriber=reader, delivery_id=planned)
    url = f"/feedback/{token}/{paper_id}/less/"
    saved = client.post(url)
    assert 'value="undo"' in saved.content.decode()
    assert PaperFeedback.objects.get().kind == PaperFeedback.Kind.DISLIKE
    assert "Taken back" in client.post(url, {"action": "undo"}).content.decode()
    assert not PaperFeedback.objects.exists()


# --- Past digests --------------------------------------------------------------------------


def test_past_digests_link_to_their_archive_pages(client, reader):
    _history(reader, client)
    other = Subscriber.objects.create(email="bo@example.org", status=Status.ACTIVE, interests="x")
    Delivery.objects.create(subscriber=other, local_date=date(2026, 6, 11), state="sent")
    html = client.get(f"{_page(reader)}digests/").content.decode()
    (link,) = re.findall(r'href="(/digests/2026-06-1\d/\?papers=[^"]+)"', html)
    sent = Delivery.objects.get(subscriber=reader)
    assert sent.subject in html
    ids = list(sent.items.order_by("position").values_list("paper_id", flat=True))
    assert link == f"/digests/2026-06-12/?papers={','.join(ids)}"
    archive = client.get(link)
    assert archive.status_code == 200


# --- Forged requests -----------------------------------------------------------------------


def test_the_controls_refuse_a_post_from_another_site(reader):
    """A page elsewhere that posts to a reader's link (it leaked in a forwarded digest) must
    not delete their data or change their address: the forms carry a CSRF token."""
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    page = _page(reader)
    for data in (
        {"action": "delete-data-confirmed"},
        {"action": "change-address", "new_email": NEW},
    ):
        assert browser.post(page, data).status_code == 403
    reader.refresh_from_db()
    assert (reader.email, reader.pending_email) == (OLD, "")
    # The page itself posts with its token, and that works.
    browser.get(page)
    token = browser.cookies["csrftoken"].value
    response = browser.post(page, {"action": "delete-data", "csrfmiddlewaretoken": token})
    assert "Delete everything" in response.content.decode()
