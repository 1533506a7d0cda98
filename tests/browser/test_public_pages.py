"""A reader on the site in a real browser: trending page, a paper, a search."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_trending_then_paper_then_search(page, live_server, corpus):
    page.goto(live_server.url + "/")
    assert page.locator("h1").inner_text().startswith("Trending on")
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
