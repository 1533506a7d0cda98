"""The signup and preference pages in a real browser: several interests, followed authors,
papers a reader knows (pasted and as a BibTeX file), the trending section and dial."""

import re

import pytest
from playwright.sync_api import expect

from digest.models import PaperFeedback, Subscriber
from digest.services import subscriptions

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_signup_with_authors_papers_and_trending_options_then_change_them(
    browser, live_server, corpus, smtp_server, redis_cache, eager_tasks, settings, tmp_path
):
    settings.SITE_URL = live_server.url
    # A BibTeX entry as arXiv exports it, for a recorded paper (RoboTracer, 2512.13660).
    bibtex = tmp_path / "library.bib"
    bibtex.write_text("@misc{robotracer, eprint={2512.13660}, archivePrefix={arXiv}}")
    page = browser.new_page(viewport={"width": 1000, "height": 1800})
    page.goto(live_server.url + "/subscribe")
    page.fill("input[name=email]", "ada@example.org")
    page.fill("textarea[name=interests]", "video diffusion models\nrobot manipulation")
    page.fill("textarea[name=followed_authors]", "Susung Hong")
    page.fill("textarea[name=papers]", "https://arxiv.org/abs/2512.13690v1")
    page.set_input_files("input[name=bibtex]", str(bibtex))
    page.fill("input[name=trending_count]", "2")
    page.locator("input[name=trending_dial]").fill("20")
    page.check("input[name=send_when_empty]")
    page.screenshot(path=str(tmp_path / "signup.png"), full_page=True)
    page.click("form.subscription-form button[type=submit]")
    page.wait_for_url("**/subscribe/check-your-inbox")

    reader = Subscriber.objects.get()
    assert reader.followed_authors == ["Susung Hong"]
    assert (reader.trending_count, reader.send_when_empty) == (2, True)
    assert reader.trending_weight == pytest.approx(0.2)
    liked = PaperFeedback.objects.filter(subscriber=reader, kind=PaperFeedback.Kind.LIKE)
    assert set(liked.values_list("paper_id", flat=True)) == {"2512.13690", "2512.13660"}

    token = subscriptions.preferences_token(subscriber=reader)
    page.goto(f"{live_server.url}/preferences/{token}/")
    expect(page.locator("textarea[name=followed_authors]")).to_have_value("Susung Hong")
    expect(page.locator("input[name=trending_count]")).to_have_value("2")
    expect(page.locator("input[name=trending_dial]")).to_have_value("20")
    expect(page.locator("#liked-papers")).to_be_visible()
    assert page.locator(".liked-papers li").count() == 2
    page.check("input[name=categories][value='cs.RO']")
    page.check("input[name=categories_only]")
    page.locator("input[name=trending_dial]").fill("80")
    page.click("form.subscription-form button[name=action][value=save]")
    expect(page.locator(".notice")).to_contain_text("Saved.")
    reader.refresh_from_db()
    assert (reader.categories, reader.categories_only) == (["cs.RO"], True)
    assert reader.trending_weight == pytest.approx(0.8)
    assert re.search(r"Only my interests", page.content())
    page.close()
