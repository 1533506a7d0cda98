"""A reader's "report a problem" on a paper page: it reaches the moderation queue; bad input
and floods are refused with a message, and the reader's text is kept."""

import pytest
from django.test import Client

from digest.models import Paper, ProblemReport
from digest.services.sources.fetch import replay
from tests.conftest import ARXIV_PAGES

pytestmark = pytest.mark.django_db

REPORT = "/papers/2512.13689/report/"


@pytest.fixture
def papers():
    replay(paths=[ARXIV_PAGES[0]])


def test_the_paper_page_links_to_the_report_form(client, papers):
    html = client.get("/papers/2512.13689/").content.decode()
    assert f'href="{REPORT}"' in html
    response = client.get(REPORT)
    assert response.status_code == 200
    assert "What is wrong with this entry?" in response.content.decode()


def test_a_report_reaches_the_moderation_queue(client, admin_client, papers):
    response = client.post(REPORT, {"reason": "The code link points to a fork."}, follow=True)
    assert response.redirect_chain == [("/papers/2512.13689/", 302)]
    assert "an editor will look at this paper" in response.content.decode()
    assert ProblemReport.objects.get().reason == "The code link points to a fork."
    assert Paper.objects.get(pk="2512.13689").flagged
    queue = admin_client.get("/admin/digest/paper/", {"queue": "reported"})
    assert [paper.pk for paper in queue.context["cl"].result_list] == ["2512.13689"]


@pytest.mark.parametrize(
    ("reason", "message"),
    [("   ", "This field is required."), ("x" * 2001, "at most 2000 characters")],
)
def test_bad_input_is_a_400_that_keeps_the_text(client, papers, reason, message):
    response = client.post(REPORT, {"reason": reason})
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert reason.strip() in html
    assert not ProblemReport.objects.exists()


def test_reports_are_rate_limited_per_client(
    client, papers, settings, empty_cache, window_to_spare
):
    settings.REPORT_RATE = "2/hour"
    for n in range(2):
        assert client.post(REPORT, {"reason": f"report {n}"}).status_code == 302
    response = client.post(REPORT, {"reason": "one more, please"})
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600
    html = response.content.decode()
    assert "Too many reports" in html and "one more, please" in html
    assert ProblemReport.objects.count() == 2
    assert (
        client.post(REPORT, {"reason": "from elsewhere"}, REMOTE_ADDR="192.0.2.9").status_code
        == 302
    )


def test_hidden_or_unknown_papers_cannot_be_reported(client, papers):
    Paper.objects.filter(pk="2512.13689").update(hidden=True)
    assert client.get(REPORT).status_code == 404
    assert client.post(REPORT, {"reason": "x"}).status_code == 404
    assert client.post("/papers/0000.00000/report/", {"reason": "x"}).status_code == 404


def test_a_report_needs_the_csrf_token(papers):
    response = Client(enforce_csrf_checks=True).post(REPORT, {"reason": "x"})
    assert response.status_code == 403
    assert not ProblemReport.objects.exists()
