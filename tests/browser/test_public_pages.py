"""A reader on the site in a real browser: trending page, a paper, a search."""

from datetime import timedelta

import pytest
from django.utils import timezone

from digest.models import CodeLink
from digest.services.sources.ingest import record_stars

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_trending_then_paper_then_search(page, live_server, corpus):
    page.goto(live_server.url + "/")
    assert page.locator("h1").inner_text() == "Trending now"
    cards = page.locator("article.card")
    assert cards.count() == 25

    first = cards.first.locator("h2 a")
    title = first.inner_text()
    first.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == title
    assert (
        page.locator("a", has_text="PDF")
        .first.get_attribute("href")
        .startswith("https://arxiv.org/pdf/")
    )
    assert page.locator("section.related article.card").count() == 5

    page.fill("input[name=q]", "interactive previews of video diffusion models")
    page.locator("header button[type=submit]").click()
    page.wait_for_load_state()
    assert "/search?q=" in page.url
    assert "DiffusionBrowser" in page.locator("article.card h2").first.inner_text()


def test_phone_width_keeps_the_page_readable(browser, live_server, corpus):
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    page.goto(live_server.url + "/")
    # Nothing wider than the screen: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    context.close()


WIDTHS = {"phone": {"width": 375, "height": 800}, "desktop": {"width": 1280, "height": 900}}


@pytest.fixture(params=WIDTHS.values(), ids=WIDTHS.keys())
def screen(request, browser):
    context = browser.new_context(viewport=request.param)
    yield context.new_page(), request.param["width"]
    context.close()


def test_every_tab_lists_a_full_page_of_papers(screen, live_server, corpus):
    page, width = screen
    for tab in ("Today", "This week", "This month"):
        page.goto(live_server.url + "/")
        page.locator("nav.tabs a", has_text=tab).click()
        page.wait_for_load_state()
        assert page.locator("nav.tabs a[aria-current=page]").inner_text() == tab
        assert page.locator("article.card").count() >= 20
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.title() == "Trending this month · digest"


def test_math_is_typeset_as_mathml_on_a_paper_page(screen, live_server, corpus):
    page, width = screen
    page.goto(live_server.url + "/papers/2512.13689/")  # "$3.6\times$ fewer parameters"
    formulas = page.locator("section.abstract math")
    assert formulas.count() >= 3
    # Chromium lays MathML out as math (a box of its own), not as unknown inline text.
    assert page.evaluate("getComputedStyle(document.querySelector('math')).display") in {
        "math",
        "inline math",
    }
    assert formulas.first.bounding_box()["width"] > 0
    abstract = page.locator("section.abstract").inner_text()
    assert "$" not in abstract and "\\times" not in abstract
    assert page.title().startswith("LitePT")
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_star_chart_draws_our_snapshots(screen, live_server, corpus):
    page, _ = screen
    # The recorded star count, read again on later days with more stars (derived from it).
    link = CodeLink.objects.filter(stars__gt=0).order_by("-stars").first()
    now = timezone.now()
    link.snapshots.update(taken_at=now - timedelta(days=9))
    recorded = link.stars
    for days_ago, gained in ((6, 40), (3, 90), (0, 200)):
        record_stars(link, recorded + gained, at=now - timedelta(days=days_ago))
    page.goto(live_server.url + f"/papers/{link.paper_id}/")
    chart = page.locator("figure.star-history svg")
    assert chart.is_visible() and chart.locator("circle").count() == 4
    assert chart.bounding_box()["height"] > 20
    # Since the last reading before the week began (nine days ago).
    assert "+200 this week" in page.locator("section.signals").inner_text()
