"""Hostile addresses, names and titles never break the headers of an email we build: each
message parses with Python's strict email policy, with one To and its own headers intact."""

from datetime import date
from email import message_from_bytes, policy

import pytest
from django.core.exceptions import ValidationError

from digest.forms import SubscribeForm
from digest.models import Delivery, Paper, Subscriber
from digest.services import delivery, subscriptions
from digest.services.emails.compose import (
    already_subscribed_message,
    confirmation_message,
    digest_message,
)

pytestmark = pytest.mark.django_db
DAY = date(2026, 6, 12)
PREFERENCES = subscriptions.Preferences(
    interests="agents", categories=[], delivery_hour=8, timezone="UTC", digest_size=3
)
# What the probe got through Django's address check, and its relatives.
HOSTILE_ADDRESSES = [
    '"probe\x0bx-evil\\ :\\ 1"@example.com',
    '"probe\x0bBcc:\\ victim@example.net"@example.com',
    '"a\\\r\\\nBcc: v@example.net"@example.com',
    '"quoted local"@example.com',
    "tab\tin@example.com",
    "é@example.com",  # needs SMTPUTF8, which the relay may not offer
    "a\x7f@example.com",
    # Dot-atoms, but "=?...?=" is an encoded word to Django, which decodes it when it writes
    # the envelope: the mail would go to abc@example.com, or "victim@example.net"@example.com.
    "=?utf-8?q?abc?=@example.com",
    "=?utf-8?q?victim=40example.net?=@example.com",
]
FORM = {"interests": "agents", "delivery_hour": "8", "timezone": "UTC", "digest_size": "3"}


def strictly_parsed(message) -> object:
    """The message as a mail client would read it; the strict policy raises on any defect."""
    return message_from_bytes(message.message().as_bytes(), policy=policy.strict)


@pytest.mark.parametrize("address", HOSTILE_ADDRESSES)
def test_the_signup_form_refuses_addresses_smtp_cannot_carry(address):
    form = SubscribeForm(data={**FORM, "email": address})
    assert not form.is_valid() and "email" in form.errors


def test_the_form_says_why_an_encoded_word_is_refused():
    form = SubscribeForm(data={**FORM, "email": "=?utf-8?q?abc?=@example.com"})
    assert not form.is_valid()
    assert '"=?" before the @' in form.errors["email"][0]


@pytest.mark.parametrize("address", HOSTILE_ADDRESSES)
def test_the_signup_service_refuses_them_too(address):
    with pytest.raises(ValidationError):
        subscriptions.subscribe(email=address, preferences=PREFERENCES)
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize("address", ["ada@example.org", "o'hara+digest@sub.example.co.uk"])
def test_ordinary_addresses_are_taken(address):
    form = SubscribeForm(data={**FORM, "email": address})
    assert form.is_valid(), form.errors


def _assert_intact(message, *, to: str, list_headers: bool) -> None:
    parsed = strictly_parsed(message)
    assert parsed.get_all("To") == [to]
    for name in ("From", "Subject", "Date", "Message-ID"):
        assert len(parsed.get_all(name)) == 1, name
    assert parsed["Bcc"] is None and parsed["Cc"] is None
    if list_headers:
        assert parsed["List-Unsubscribe"].strip().startswith("<https://")
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert parsed["List-Id"]


def test_every_email_keeps_its_headers_whatever_the_titles(corpus, settings):
    settings.SITE_URL = "https://digest.example.org"
    reader = Subscriber.objects.create(
        email="o'hara+x@example.org", status=Subscriber.Status.ACTIVE, interests="agents"
    )
    for compose in (confirmation_message, already_subscribed_message):
        _assert_intact(compose(subscriber=reader), to=reader.email, list_headers=False)
    ids = delivery.plan(day=DAY, subscriber_ids=[reader.pk])
    sent = Delivery.objects.get(pk=ids[0])
    hostile = "T\r\nBcc: v@example.net\x0bTo: w@example.net\u2028=?utf-8?q?x?=" + "é" * 300
    Paper.objects.filter(pk__in=sent.items.values("paper_id")).update(
        title=hostile, authors=["\r\nCc: x@example.net"]
    )
    sent = Delivery.objects.prefetch_related("items__paper").get(pk=sent.pk)
    _assert_intact(digest_message(delivery=sent), to=reader.email, list_headers=True)
