"""Rotating SECRET_KEY: what the old key signed still verifies while it is listed in
SECRET_KEY_FALLBACKS, so the unsubscribe links in emails already sent keep working."""

import pytest
from django.core import signing
from django.urls import reverse

from digest.models import Subscriber
from digest.services.subscriptions import (
    UNSUBSCRIBE_SALT,
    LinkError,
    subscriber_for,
    unsubscribe_token,
)

pytestmark = pytest.mark.django_db

OLD_KEY = "old-key-0f4c2e9a7b1d3c5e8f6a4b2d0c9e7f5a3b1d8c6e4f2a0b9d7c5e3f1a8b6d4c2e"
NEW_KEY = "new-key-9b7d5f3a1c8e6b4d2f0a9c7e5b3d1f8a6c4e2b0d9f7a5c3e1b8d6f4a2c0e9b7d"


@pytest.fixture
def reader() -> Subscriber:
    return Subscriber.objects.create(email="reader@example.org", status=Subscriber.Status.ACTIVE)


@pytest.fixture
def old_token(settings, reader: Subscriber) -> str:
    """An unsubscribe link mailed before the rotation."""
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY, []
    return unsubscribe_token(subscriber=reader)


def rotate(settings, *, keep_old: bool) -> None:
    settings.SECRET_KEY = NEW_KEY
    settings.SECRET_KEY_FALLBACKS = [OLD_KEY] if keep_old else []


def test_a_salted_signature_survives_rotation_only_through_the_fallback(settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY, []
    token = signing.dumps(42, salt=UNSUBSCRIBE_SALT)
    rotate(settings, keep_old=True)
    assert signing.loads(token, salt=UNSUBSCRIBE_SALT) == 42
    # New signatures use the new key alone, and the salt still separates purposes.
    assert signing.loads(signing.dumps(42, salt=UNSUBSCRIBE_SALT), salt=UNSUBSCRIBE_SALT) == 42
    with pytest.raises(signing.BadSignature):
        signing.loads(token, salt="another purpose")
    rotate(settings, keep_old=False)
    with pytest.raises(signing.BadSignature):
        signing.loads(token, salt=UNSUBSCRIBE_SALT)


def test_an_old_unsubscribe_link_still_unsubscribes_after_rotation(
    client, settings, reader, old_token
):
    rotate(settings, keep_old=True)
    assert subscriber_for(token=old_token, purpose="unsubscribe") == reader

    url = reverse("unsubscribe", args=[old_token])
    assert client.get(url).status_code == 200
    response = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED


def test_an_old_unsubscribe_link_dies_with_its_key(client, settings, reader, old_token):
    rotate(settings, keep_old=False)
    with pytest.raises(LinkError):
        subscriber_for(token=old_token, purpose="unsubscribe")
    assert client.get(reverse("unsubscribe", args=[old_token])).status_code == 400
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE
