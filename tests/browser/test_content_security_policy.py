"""The Content-Security-Policy in a real browser: it refuses inline scripts, and the site, the
subscribe form's script, the admin and the API docs all still work under it."""

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Chromium fires this event for every resource or inline code the policy refuses.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
def watched(page: Page) -> Page:
    """A page that remembers policy violations, from events and from the console."""
    page.add_init_script(RECORD_VIOLATIONS)
    page.console_errors = []
    page.on(
        "console",
        lambda message: message.type == "error" and page.console_errors.append(message.text),
    )
    return page


def _assert_no_violations(page: Page) -> None:
    assert page.evaluate("window.cspViolations") == []
    assert [text for text in page.console_errors if "Content Security Policy" in text] == []


def test_the_policy_refuses_inline_scripts(watched, live_server, corpus):
    response = watched.goto(live_server.url + "/")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    # A script that an injection would have put into the page does not run.
    watched.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.injected = true";
          document.body.append(script);
        }"""
    )
    assert watched.evaluate("window.injected") is None
    assert watched.evaluate("window.cspViolations")[0].startswith("script-src")


def test_public_pages_work_under_the_policy(watched, live_server, corpus):
    watched.goto(live_server.url + "/")
    watched.locator("article.card h2 a").first.click()
    watched.wait_for_load_state()
    assert watched.locator("section.related article.card").count() == 5
    watched.fill("input[name=q]", "video diffusion")
    watched.locator("header button[type=submit]").click()
    watched.wait_for_load_state()
    assert watched.locator("article.card").count() > 0
    _assert_no_violations(watched)


def test_the_subscribe_form_script_runs_under_the_policy(browser, live_server, corpus):
    context = browser.new_context(timezone_id="Asia/Tokyo")
    page = context.new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(live_server.url + "/subscribe")
    expect(page.locator("select[name=timezone]")).to_have_value("Asia/Tokyo")
    assert page.evaluate("window.cspViolations") == []
    context.close()


def test_the_admin_works_under_the_policy(watched, live_server, corpus, admin_user):
    watched.goto(live_server.url + "/admin/")
    watched.fill("input[name=username]", "admin")
    watched.fill("input[name=password]", "password")
    watched.click("input[type=submit]")
    watched.wait_for_url(live_server.url + "/admin/")
    watched.goto(live_server.url + "/admin/digest/paper/")
    # The changelist's script counts what is selected for an action.
    watched.check("#action-toggle")
    expect(watched.locator(".action-counter")).to_have_text(re.compile(r"(\d+) of \1 selected"))
    watched.locator("#result_list tbody a").first.click()
    watched.wait_for_load_state()
    expect(watched.locator("input[name=_save]")).to_be_visible()
    _assert_no_violations(watched)


def test_the_api_docs_work_under_the_policy(watched, live_server, corpus):
    watched.goto(live_server.url + "/api/docs/")
    # Swagger UI ran its start-up script, fetched the schema and drew the operations.
    expect(watched.locator(".opblock-summary-path").first).to_be_visible()
    assert watched.locator(".opblock-summary-path", has_text="/api/papers/").count() >= 1
    _assert_no_violations(watched)
