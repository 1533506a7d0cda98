"""The public pages, on an empty database and on the recorded corpus."""

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone

from digest.models import Paper, TrendingSignal

pytestmark = pytest.mark.django_db


def test_empty_site_says_there_are_no_papers_yet(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "No papers yet" in response.content.decode()
    assert client.get("/search?q=diffusion").status_code == 200


@pytest.mark.parametrize("window", ["today", "week", "month"])
def test_home_is_trending_now_on_every_tab(client, corpus, window):
    response = client.get("/", {"window": window})
    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["tab"] == window
    assert response.context["window"].last == date(2026, 6, 12)
    papers = list(response.context["page"])
    assert len(papers) == 25  # 30 featured that day, 25 a page: never a thin page
    scores = [paper.trending.score for paper in papers]
    assert scores == sorted(scores, reverse=True)
    assert papers[0].signals.all()[0].upvotes > 0
    assert "<h1>Trending now</h1>" in html
    assert 'aria-current="page"' in html


def test_home_defaults_to_today_and_reaches_back_when_the_day_is_thin(client, corpus):
    assert client.get("/").context["tab"] == "today"
    # Only five papers featured that day (derived from the recorded one): the tab reaches
    # back to the day of the 25th newest paper instead of showing five.
    TrendingSignal.objects.exclude(
        paper_id__in=list(
            TrendingSignal.objects.order_by("paper_id")[:5].values_list("paper", flat=True)
        )
    ).delete()
    response = client.get("/")
    window = response.context["window"]
    assert window.widened and window.first < date(2026, 6, 12)
    assert len(response.context["page"]) == 25
    assert "reaching further back" in response.content.decode()


def test_a_day_of_the_archive_links_older_days_back_and_newer_forward(client, corpus):
    response = client.get("/", {"day": "2026-06-12"})
    html = response.content.decode()
    assert "Trending on Friday, 12 June 2026" in html
    older = response.context["older_day"]
    assert older < date(2026, 6, 12)
    assert f'href="?day={older.isoformat()}">← {older:%-d %b}' in html


def test_a_pin_to_a_future_day_does_not_take_over_the_home_page(client, corpus):
    # Pinned before pins had to be for today or earlier (or with the clock set back).
    Paper.objects.filter(pk="2512.13689").update(
        featured_on=timezone.localdate() + timedelta(days=3)
    )
    response = client.get("/")
    assert response.context["window"].last == date(2026, 6, 12)
    assert len(response.context["page"]) == 25


def test_earlier_days_and_filters(client, corpus):
    response = client.get("/", {"day": "2025-12-15", "has_code": "true"})
    papers = list(response.context["page"])
    assert papers and all(paper.code_links.exists() for paper in papers)
    response = client.get("/", {"day": "2025-12-15", "category": "cs.CV"})
    assert all(
        "cs.CV" in paper.categories.values_list("term", flat=True)
        for paper in response.context["page"]
    )
    assert client.get("/", {"day": "not-a-day"}).status_code == 404
    # The tabs filter through the same FilterSet as the API; a value it refuses is left out.
    response = client.get("/", {"window": "week", "has_code": "true"})
    assert all(paper.code_links.exists() for paper in response.context["page"])
    assert client.get("/", {"window": "week", "has_code": "maybe"}).status_code == 200


def test_the_announced_not_yet_released_filter_and_the_status_line(client, corpus):
    response = client.get("/", {"day": "2025-12-15", "code_status": "announced"})
    papers = list(response.context["page"])
    assert papers and {paper.code_status for paper in papers} == {"announced"}
    assert 'name="code_status"' in response.content.decode()
    assert client.get("/", {"code_status": "bogus"}).context["code_status"] is None
    page = client.get(f"/papers/{papers[0].pk}/").content.decode()
    assert "Code: Announced, not yet released" in page
    released = client.get("/papers/2512.13689/").content.decode()
    assert "Code: Released, since" in released


def test_paper_page_has_abstract_links_signals_and_related(client, corpus):
    response = client.get("/papers/2512.13689/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "https://github.com/prs-eth/LitePT" in html
    assert 'href="https://arxiv.org/pdf/2512.13689"' in html
    assert Paper.objects.get(pk="2512.13689").abstract[:60] in html
    assert len(response.context["related"]) == 5
    assert client.get("/papers/0000.00000/").status_code == 404


def test_paper_page_explains_its_trending_score_by_parts(client, corpus):
    html = client.get("/papers/2606.13681/").content.decode()  # 118 upvotes that day
    (line,) = re.findall(r'<li class="score-parts">([^<]+)</li>', html)
    assert line.startswith("Trending score from Hugging Face upvotes ")
    shares = [int(share) for share in re.findall(r"(\d+)%", line)]
    assert shares == sorted(shares, reverse=True) and 98 <= sum(shares) <= 102


def test_a_versioned_paper_address_redirects_to_the_paper(client, corpus):
    response = client.get("/papers/2512.13689v2/")
    assert response.status_code == 301
    assert response["Location"] == "/papers/2512.13689/"
    assert client.get("/papers/0000.00000v2/", follow=True).status_code == 404


def test_hidden_papers_are_nowhere(client, corpus):
    Paper.objects.filter(pk="2512.13689").update(hidden=True)
    assert client.get("/papers/2512.13689/").status_code == 404
    response = client.get("/search", {"q": "LitePT point transformer"})
    assert "2512.13689" not in {paper.pk for paper in response.context["papers"]}
    response = client.get("/", {"day": "2025-12-15"})
    assert "LitePT" not in response.content.decode()


def test_search_page_lists_cards(client, corpus):
    response = client.get("/search", {"q": "interactive previews of video diffusion models"})
    assert response.status_code == 200
    assert response.context["papers"][0].pk == "2512.13690"


def test_search_page_dates_narrow_and_a_bad_one_is_left_out(client, corpus):
    query = {"q": "interactive previews of video diffusion models"}
    assert client.get("/search", {**query, "to": "2000-01-01"}).context["papers"] == []
    found = client.get("/search", {**query, "from": "2025-12-01", "to": "last week"})
    assert found.status_code == 200
    assert found.context["papers"][0].pk == "2512.13690"
    assert all(paper.published.date() >= date(2025, 12, 1) for paper in found.context["papers"])
