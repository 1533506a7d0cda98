"""A newcomer in a real browser: subscribe, confirm from the email, read the digest in the
browser, leave with the one-click unsubscribe, and get nothing more."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from digest.models import Subscriber
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
EMAIL = "ada@example.org"


def _send(day: str) -> str:
    out = StringIO()
    call_command("send_digests", "--date", day, stdout=out)
    return out.getvalue()


def test_subscribe_confirm_read_and_unsubscribe(
    browser, live_server, corpus, smtp_server, redis_cache, eager_tasks, settings
):
    settings.SITE_URL = live_server.url
    context = browser.new_context(timezone_id="Asia/Tokyo")
    page = context.new_page()

    page.goto(live_server.url + "/")
    page.click("nav >> text=Subscribe")
    # The time zone the browser reports is preselected; 08:00 and 10 papers are the defaults.
    # Our script sets it after the page loads: wait for it rather than race it.
    expect(page.locator("select[name=timezone]")).to_have_value("Asia/Tokyo")
    assert page.locator("select[name=delivery_hour]").input_value() == "8"
    page.fill("input[name=email]", EMAIL)
    page.fill("textarea[name=interests]", "video generation\ndiffusion models")
    page.check("input[name=categories][value='cs.CV']")
    page.fill("input[name=digest_size]", "5")
    page.click("form.subscription-form button[type=submit]")
    page.wait_for_url("**/subscribe/check-your-inbox")
    assert page.locator("h1").inner_text() == "Check your inbox"

    (confirmation,) = wait_for(lambda: smtp_server.to(EMAIL), what="the confirmation email")
    text = confirmation.get_body(("plain",)).get_content()
    page.goto(re.search(r"(http://\S+/subscribe/confirm/\S+/)", text)[1])
    page.click("text=Confirm my subscription")
    assert page.locator("h1").inner_text() == "You are subscribed"
    reader = Subscriber.objects.get()
    assert (reader.status, reader.timezone, reader.digest_size) == ("active", "Asia/Tokyo", 5)

    assert "1 sent" in _send("2026-06-12")
    (digest,) = [m for m in smtp_server.to(EMAIL) if m["List-Id"]]
    html = digest.get_body(("html",)).get_content()
    emailed = re.findall(r'<h2 class="title"[^>]*><a href="[^"]+/papers/([^/]+)/"', html)
    # Up to five papers "For you", then the three most talked-about of the day.
    assert ">For you<" in html and ">Trending today<" in html
    assert 3 < len(emailed) <= 5 + 3

    archive = re.search(r'href="([^"]+/digests/[^"]+)"', html)[1].replace("&amp;", "&")
    page.goto(archive)
    assert page.locator("h1").inner_text() == "Digest of Friday, 12 June 2026"
    shown = page.locator("article.card h2 a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    assert shown == [f"/papers/{pk}/" for pk in emailed]

    # What a mailbox provider does with List-Unsubscribe-Post: no cookies, no CSRF token.
    one_click = re.search(r"<(http[^>]+)>", digest["List-Unsubscribe"])[1]
    provider = browser.new_context()
    answer = provider.request.post(
        one_click,
        data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        max_redirects=0,
    )
    assert answer.status == 200 and "You are unsubscribed" in answer.text()
    assert Subscriber.objects.get().status == "unsubscribed"

    assert "0 sent" in _send("2026-06-13")
    assert len(smtp_server.to(EMAIL)) == 2  # the confirmation and the one digest
    provider.close()
    context.close()
