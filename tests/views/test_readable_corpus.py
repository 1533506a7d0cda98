"""Every recorded paper reads as text: no raw `$...$` math and no LaTeX accent (`\\"`) on
any page, in any email, feed or API field (pages typeset the math as MathML)."""

import re
from datetime import date

import pytest
from django.core.cache import cache
from django.urls import reverse

from digest.models import Delivery, DeliveryItem, Paper, Subscriber
from digest.services.emails.compose import digest_message
from digest.services.sources.fetch import replay
from digest.services.trending import recompute_trending
from tests.conftest import DATA_DIR

pytestmark = pytest.mark.django_db
# Math between dollars, or a LaTeX accent (`\"o`, `\'e`, `\v{c}`) as written or HTML-escaped.
RAW_LATEX = re.compile(
    r"\$[^$<>\s][^$<>]*\$|\\(?:[\"'`^~=.vcuHk]|&quot;|&#x27;|&#39;)\s*\{?[A-Za-z]"
)


@pytest.fixture
def everything(settings):
    """All the recordings replayed, the damaged one included."""
    settings.FEED_SIZE = 1_000
    settings.API_PAGE_SIZE = 1_000
    replay(paths=[DATA_DIR])
    recompute_trending()
    return list(Paper.objects.order_by("pk"))


def assert_readable(text: str, where: str) -> None:
    found = RAW_LATEX.findall(text)
    assert not found, f"raw LaTeX in {where}: {found[:3]}"


def test_every_page_of_every_recorded_paper_is_readable(client, everything):
    assert len(everything) > 500
    for paper in everything:
        url = reverse("paper-detail", args=[paper.pk])
        assert_readable(client.get(url).content.decode(), url)
    days = {paper.published.date() for paper in everything}
    for query in [
        *(f"?window={w}" for w in ("today", "week", "month")),
        *(f"?day={d}" for d in days),
    ]:
        assert_readable(client.get("/" + query).content.decode(), query)


def test_every_recorded_paper_reads_as_text_in_feeds_and_the_api(client, everything):
    cache.clear()
    for name in ("feed-trending-rss", "feed-trending-atom"):
        body = client.get(reverse(name)).content.decode()
        assert body.count("<title>") + body.count("<title ") > len(everything) // 2
        assert_readable(body, name)
    url, seen = reverse("api-papers"), 0
    while url:
        page = client.get(url, {"page_size": 100} if "?" not in url else None).json()
        seen += len(page["results"])
        for item in page["results"]:
            for name, value in item.items():
                text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
                assert_readable(text, f"{item['arxiv_id']} {name}")
        url = page["next"]
    assert seen == len(everything)


def test_every_recorded_paper_reads_as_text_in_a_digest(everything):
    reader = Subscriber.objects.create(email="ada@example.org", status="active")
    sent = Delivery.objects.create(subscriber=reader, local_date=date(2026, 6, 12))
    DeliveryItem.objects.bulk_create(
        DeliveryItem(delivery=sent, paper=paper, position=i, score=0.5, why="")
        for i, paper in enumerate(everything)
    )
    message = digest_message(delivery=sent)
    assert_readable(message.subject, "subject")
    assert_readable(message.body, "text part")
    assert_readable(message.alternatives[0][0], "html part")
