"""GET /api/digests/<date>/ (the public digest of a day) and /api/me/papers/ (a reader's
personal feed, by token)."""

from datetime import date

import pytest

from digest.models import Delivery, DeliveryItem, Subscriber
from digest.services.delivery import plan
from digest.services.moderation import PaperAction, moderate_papers
from digest.services.personal_feed import revoke_feed_token
from digest.services.trending import trending_papers

pytestmark = pytest.mark.django_db


def test_the_digest_of_a_day_is_its_top_trending_papers(client, corpus, settings):
    settings.API_DIGEST_SIZE = 7
    response = client.get("/api/digests/2026-06-12/")
    assert response.status_code == 200
    body = response.json()
    assert body["date"] == "2026-06-12"
    expected = [paper.pk for paper in trending_papers(day=date(2026, 6, 12))[:7]]
    assert [item["arxiv_id"] for item in body["papers"]] == expected
    scores = [item["trending_score"] for item in body["papers"]]
    assert scores == sorted(scores, reverse=True)


def test_an_editors_pin_leads_the_days_digest_and_a_hidden_paper_leaves_it(
    client, corpus, admin_user
):
    day = date(2026, 6, 12)
    last = list(trending_papers(day=day))[-1].pk
    moderate_papers(
        paper_ids=[last], action=PaperAction.FEATURE, actor=admin_user, reason="great", day=day
    )
    papers = client.get("/api/digests/2026-06-12/").json()["papers"]
    assert papers[0]["arxiv_id"] == last
    moderate_papers(paper_ids=[last], action=PaperAction.HIDE, actor=admin_user, reason="dupe")
    papers = client.get("/api/digests/2026-06-12/").json()["papers"]
    assert last not in {item["arxiv_id"] for item in papers}


def test_a_day_without_papers_has_an_empty_digest(client, corpus):
    assert client.get("/api/digests/1999-01-01/").json() == {"date": "1999-01-01", "papers": []}


@pytest.mark.parametrize("day", ["yesterday", "2026-02-30", "2026-6-1x"])
def test_a_bad_date_is_a_400_with_a_message(client, corpus, day):
    response = client.get(f"/api/digests/{day}/")
    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.json()["day"][0]


def test_a_reader_gets_their_latest_digest_by_token(client, corpus, feed_reader):
    subscriber, token = feed_reader
    assert client.get("/api/me/papers/", {"token": token}).json() == {"date": None, "papers": []}
    (planned,) = plan(day=date(2026, 6, 12), subscriber_ids=[subscriber.pk])
    response = client.get("/api/me/papers/", {"token": token})
    assert response.status_code == 200
    body = response.json()
    assert body["date"] == "2026-06-12"
    first = body["papers"][0]
    assert set(first) == {"paper", "score", "reason", "section"}
    assert first["paper"]["url"].startswith("http://testserver/papers/")
    # Exactly what the digest holds, in its order: sending it does not empty the feed.
    items = DeliveryItem.objects.filter(delivery_id=planned).order_by("position")
    assert [(p["paper"]["arxiv_id"], p["reason"], p["section"]) for p in body["papers"]] == [
        (item.paper_id, item.why, item.section) for item in items
    ]
    Delivery.objects.filter(pk=planned).update(state=Delivery.State.SENT)
    assert client.get("/api/me/papers/", {"token": token}).json()["papers"] == body["papers"]
    # A personal answer must not be stored by shared proxies.
    assert sorted(response["Cache-Control"].split(", ")) == ["max-age=60", "private"]


def test_the_token_also_works_as_a_bearer_header(client, corpus, feed_reader):
    _, token = feed_reader
    by_query = client.get("/api/me/papers/", {"token": token}).json()
    by_header = client.get("/api/me/papers/", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert by_header == by_query


def test_no_token_or_a_revoked_one_is_a_401(client, corpus, feed_reader):
    subscriber, token = feed_reader
    response = client.get("/api/me/papers/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    new = revoke_feed_token(subscriber_id=subscriber.pk)
    response = client.get("/api/me/papers/", {"token": token})
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    assert client.get("/api/me/papers/", {"token": new}).status_code == 200


def test_an_unsubscribed_reader_has_no_feed(client, corpus, feed_reader):
    subscriber, token = feed_reader
    Subscriber.objects.filter(pk=subscriber.pk).update(status=Subscriber.Status.UNSUBSCRIBED)
    assert client.get("/api/me/papers/", {"token": token}).status_code == 401
