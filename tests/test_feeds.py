"""RSS and Atom feeds, read with feedparser as a feed reader would."""

from datetime import date

import feedparser
import pytest

from digest.models import DeliveryItem, Paper
from digest.services.delivery import plan
from digest.services.moderation import PaperAction, moderate_papers
from digest.services.papers import primary_code_link
from digest.services.personal_feed import revoke_feed_token
from digest.services.trending import trending_papers

pytestmark = pytest.mark.django_db

FEEDS = ["/feeds/trending.rss", "/feeds/trending.atom"]


def read(client, path: str) -> feedparser.FeedParserDict:
    response = client.get(path)
    assert response.status_code == 200, path
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


def code_links(entry) -> list[str]:
    return [link.href for link in entry.links if link.rel == "related"]


@pytest.mark.parametrize("path", FEEDS)
def test_trending_feeds_parse_and_list_the_top_papers(client, corpus, settings, path):
    settings.FEED_SIZE = 12
    feed = read(client, path)
    assert feed.version in ("rss20", "atom10")
    assert feed.feed.title == "digest: trending papers"
    expected = [paper.pk for paper in trending_papers()[:12]]
    assert [entry.link for entry in feed.entries] == [
        f"http://testserver/papers/{pk}/" for pk in expected
    ]


@pytest.mark.parametrize("path", FEEDS)
def test_each_item_carries_its_code_link_for_programs_and_people(client, corpus, path):
    feed = read(client, path)
    papers = Paper.objects.in_bulk([entry.link.split("/")[-2] for entry in feed.entries])
    with_code = 0
    for entry in feed.entries:
        paper = papers[entry.link.split("/")[-2]]
        link = primary_code_link(paper)
        assert entry.title == paper.title
        assert entry.published_parsed is not None
        if link:
            with_code += 1
            assert code_links(entry) == [link.url]
            assert f'href="{link.url}"' in entry.summary
        else:
            assert code_links(entry) == []
            assert "No code released yet" in entry.summary
    assert with_code > 0


def test_a_category_feed_holds_only_that_category(client, corpus):
    for path in ("/feeds/category/cs.CL.rss", "/feeds/category/cs.CL.atom"):
        feed = read(client, path)
        assert feed.feed.title == "digest: trending in cs.CL"
        assert feed.entries
        assert all("cs.CL" in {tag.term for tag in entry.tags} for entry in feed.entries)
    assert client.get("/feeds/category/no.such.rss").status_code == 404


def test_hidden_papers_leave_every_feed(client, corpus, admin_user):
    top = read(client, "/feeds/trending.rss").entries[0].link.split("/")[-2]
    moderate_papers(paper_ids=[top], action=PaperAction.HIDE, actor=admin_user, reason="spam")
    for path in [*FEEDS, "/feeds/category/cs.CV.atom"]:
        assert top not in {entry.link.split("/")[-2] for entry in read(client, path).entries}


def test_a_personal_feed_by_token_until_it_is_revoked(client, corpus, feed_reader):
    subscriber, token = feed_reader
    (planned,) = plan(day=date(2026, 6, 12), subscriber_ids=[subscriber.pk])
    digest = list(DeliveryItem.objects.filter(delivery_id=planned).order_by("position"))
    for suffix in ("rss", "atom"):
        feed = read(client, f"/feeds/me/{token}.{suffix}")
        assert feed.feed.title == "digest: your papers"
        # The latest digest's papers, in its order.
        assert [e.link.split("/")[-2] for e in feed.entries] == [i.paper_id for i in digest]
    response = client.get(f"/feeds/me/{token}.rss")
    assert sorted(response["Cache-Control"].split(", ")) == ["max-age=60", "private"]
    revoke_feed_token(subscriber_id=subscriber.pk)
    assert client.get(f"/feeds/me/{token}.rss").status_code == 404


def test_feeds_are_cacheable_and_revalidate(client, corpus):
    response = client.get("/feeds/trending.atom")
    assert sorted(response["Cache-Control"].split(", ")) == ["max-age=60", "public"]
    assert (
        client.get("/feeds/trending.atom", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    )


def test_an_empty_site_has_valid_empty_feeds(client):
    for path in FEEDS:
        assert read(client, path).entries == []
