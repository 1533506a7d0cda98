"""Signup, double opt-in, signed links, preferences and the rate limits, at the service level."""

from datetime import date

import pytest
import redis
from django.core import signing

from digest.models import Delivery, DeliveryItem, Paper, PaperFeedback, Subscriber
from digest.services import subscriptions
from digest.services.rate_limits import hit
from digest.services.sources.fetch import replay
from digest.services.subscriptions import ExpiredLink, LinkError, Notice, Preferences
from tests.conftest import HF_DAILY

pytestmark = pytest.mark.django_db
Status = Subscriber.Status

PREFERENCES = Preferences(
    interests="video generation, diffusion models",
    categories=["cs.CV"],
    delivery_hour=7,
    timezone="Europe/Berlin",
    digest_size=5,
)
OTHER = Preferences(
    interests="robotics", categories=[], delivery_hour=20, timezone="UTC", digest_size=3
)


@pytest.fixture(autouse=True)
def shared_cache(redis_cache):
    return redis_cache


def _reader(status: str, **fields) -> Subscriber:
    return Subscriber.objects.create(
        email=f"{status}@example.org", status=status, interests="agents", **fields
    )


def test_signup_waits_for_confirmation_with_the_given_preferences():
    signup = subscriptions.subscribe(email="  Ada@Example.ORG ", preferences=PREFERENCES)
    subscriber = Subscriber.objects.get()
    assert signup.subscriber_id == subscriber.pk and signup.notice == Notice.CONFIRM
    assert subscriber.email == "ada@example.org"
    assert subscriber.status == Status.PENDING and subscriber.confirmed_at is None
    assert (subscriber.interests, subscriber.categories) == (PREFERENCES.interests, ["cs.CV"])
    assert (subscriber.delivery_hour, subscriber.timezone, subscriber.digest_size) == (
        7,
        "Europe/Berlin",
        5,
    )


def test_a_confirmed_address_keeps_its_preferences_and_is_reminded_of_its_link():
    reader = _reader(Status.ACTIVE, delivery_hour=6)
    signup = subscriptions.subscribe(email=reader.email, preferences=OTHER)
    reader.refresh_from_db()
    assert signup.notice == Notice.ALREADY_SUBSCRIBED
    # A stranger who types someone's address must not change their digest.
    assert (reader.status, reader.interests, reader.delivery_hour) == (Status.ACTIVE, "agents", 6)


def test_an_unsubscribed_address_can_come_back_through_confirmation():
    reader = _reader(Status.UNSUBSCRIBED)
    signup = subscriptions.subscribe(email=reader.email, preferences=OTHER)
    reader.refresh_from_db()
    assert signup.notice == Notice.CONFIRM
    assert (reader.status, reader.interests) == (Status.PENDING, "robotics")


def test_an_address_gets_at_most_one_subscription_email_per_window():
    assert subscriptions.subscribe(email="ada@example.org", preferences=PREFERENCES)
    assert subscriptions.subscribe(email="ADA@example.org", preferences=OTHER) is None
    # The preferences of a pending signup still follow the latest form.
    assert Subscriber.objects.get().interests == "robotics"


def test_confirming_activates_once_and_twice_is_harmless():
    reader = _reader(Status.PENDING)
    token = subscriptions.confirm_token(subscriber_id=reader.pk)
    assert subscriptions.confirm(token=token).status == Status.ACTIVE
    first = Subscriber.objects.get().confirmed_at
    assert first is not None
    assert subscriptions.confirm(token=token).status == Status.ACTIVE
    assert Subscriber.objects.get().confirmed_at == first


def test_an_expired_confirmation_link_offers_a_new_one(settings):
    reader = _reader(Status.PENDING)
    token = subscriptions.confirm_token(subscriber_id=reader.pk)
    settings.CONFIRM_LINK_MAX_AGE_HOURS = -1  # every link is older than that
    with pytest.raises(ExpiredLink):
        subscriptions.confirm(token=token)
    assert Subscriber.objects.get().status == Status.PENDING
    assert subscriptions.renew_confirmation(token=token).notice == Notice.CONFIRM


def test_tampered_or_misused_tokens_change_nothing():
    reader = _reader(Status.PENDING)
    token = subscriptions.confirm_token(subscriber_id=reader.pk)
    forged = signing.dumps(reader.pk, salt="not-ours")
    other_purpose = subscriptions.unsubscribe_token(subscriber=reader)
    for bad in (token[:-2] + "xx", token.replace(":", "", 1), forged, other_purpose, ""):
        with pytest.raises(LinkError, match="damaged or incomplete"):
            subscriptions.confirm(token=bad)
    with pytest.raises(LinkError):
        subscriptions.subscriber_for(token=token, purpose="unsubscribe")
    assert Subscriber.objects.get().status == Status.PENDING


def test_an_old_confirmation_link_does_not_undo_an_unsubscription():
    reader = _reader(Status.PENDING)
    token = subscriptions.confirm_token(subscriber_id=reader.pk)
    subscriptions.unsubscribe(subscriber_id=reader.pk)
    with pytest.raises(LinkError, match="You unsubscribed"):
        subscriptions.confirm(token=token)
    assert Subscriber.objects.get().status == Status.UNSUBSCRIBED


def test_a_link_of_a_deleted_subscription_says_so():
    reader = _reader(Status.ACTIVE)
    token = subscriptions.preferences_token(subscriber=reader)
    reader.delete()
    with pytest.raises(LinkError, match="no longer exists"):
        subscriptions.subscriber_for(token=token, purpose="preferences")


def test_pause_resume_and_unsubscribe():
    reader = _reader(Status.ACTIVE, hard_bounces=3)
    subscriptions.pause(subscriber_id=reader.pk)
    assert Subscriber.objects.get().status == Status.PAUSED
    subscriptions.resume(subscriber_id=reader.pk)
    reader.refresh_from_db()
    assert (reader.status, reader.hard_bounces) == (Status.ACTIVE, 0)
    subscriptions.unsubscribe(subscriber_id=reader.pk)
    first = Subscriber.objects.get().unsubscribed_at
    subscriptions.unsubscribe(subscriber_id=reader.pk)
    reader.refresh_from_db()
    assert (reader.status, reader.unsubscribed_at) == (Status.UNSUBSCRIBED, first)
    subscriptions.resume(subscriber_id=reader.pk)  # only a pause can be resumed
    assert Subscriber.objects.get().status == Status.UNSUBSCRIBED


def test_new_preferences_drop_the_cached_topic_vectors():
    reader = _reader(Status.ACTIVE, topic_vectors=b"\0" * 8, interest_model="old-model")
    subscriptions.update_preferences(subscriber_id=reader.pk, preferences=OTHER)
    reader.refresh_from_db()
    assert (reader.interests, reader.delivery_hour, reader.timezone) == ("robotics", 20, "UTC")
    assert reader.interest_model == ""


def test_feedback_links_record_more_or_less_like_this():
    replay(paths=[HF_DAILY])
    paper, other = Paper.objects.order_by("pk")[:2]
    reader = _reader(Status.ACTIVE, interest_model="old-model")
    digest = Delivery.objects.create(subscriber=reader, local_date=date(2026, 6, 12))
    DeliveryItem.objects.create(delivery=digest, paper=paper, position=0, score=1, why="why")
    token = subscriptions.feedback_token(subscriber=reader, delivery_id=digest.pk)
    link = {"token": token, "paper_id": paper.pk}
    assert subscriptions.give_feedback(**link, answer="more") == (paper, "like")
    assert PaperFeedback.objects.get().kind == PaperFeedback.Kind.LIKE
    assert subscriptions.give_feedback(**link, answer="less") == (paper, "dislike")
    assert PaperFeedback.objects.get().kind == PaperFeedback.Kind.DISLIKE
    with pytest.raises(LinkError):
        subscriptions.give_feedback(**link, answer="love")
    # The token covers the papers of its own digest, no other.
    with pytest.raises(LinkError):
        subscriptions.give_feedback(token=token, paper_id=other.pk, answer="more")
    Paper.objects.filter(pk=paper.pk).update(hidden=True)
    with pytest.raises(LinkError, match="no longer listed"):
        subscriptions.give_feedback(**link, answer="more")
    assert PaperFeedback.objects.count() == 1


def test_signups_per_client_are_limited_in_the_shared_cache(redis_url):
    # The signup view counts under this key (rate_limits.hit, shared with the API throttles).
    def allowed(client: str) -> bool:
        return hit(key=f"subscribe:{client}", limit=3, window=3600) is None

    assert [allowed("192.0.2.1") for _ in range(4)] == [True, True, True, False]
    assert allowed("192.0.2.2")
    # The count lives in Redis, where every web process sees it.
    assert redis.Redis.from_url(redis_url).keys("*:rate:subscribe:192.0.2.1:*")
