"""Upstream faults through the real clients, against the loopback server: arXiv and Hugging
Face failing, throttling, stalling or sending damaged documents.

Each fault must end in bounded retries, never more than one arXiv request every 3 seconds
(measured on the server, across retries), one clear line in the ingestion log, and the papers
stored before it untouched. Retry-After is honoured up to HTTP_MAX_RETRY_AFTER_SECONDS.
And the next day's digest still goes out, with the papers we have.
"""

import time
from collections.abc import Callable
from datetime import date
from email.utils import formatdate

import pytest
from django.forms.models import model_to_dict

from digest.models import CodeLink, IngestionRun, Paper, TrendingSignal
from digest.services.sources.fetch import fetch_arxiv, fetch_huggingface, replay
from digest.services.sources.records import SourceError
from tests.conftest import ARXIV_PAGES, HF_DAILY, Response, Upstream, arxiv_pages_route

pytestmark = [pytest.mark.django_db, pytest.mark.faults]

Route = Callable[[dict[str, list[str]]], Response]
HF_DAY = date(2026, 6, 12)
ARXIV_SPACING_SECONDS = 3


class Script:
    """A route that gives its answers in order (the last one repeats) and notes when each
    request reached the server."""

    def __init__(self, *answers: Route):
        self.answers = answers
        self.arrivals: list[float] = []

    def __call__(self, params: dict[str, list[str]]) -> Response:
        self.arrivals.append(time.monotonic())
        return self.answers[min(len(self.arrivals), len(self.answers)) - 1](params)

    def gaps(self) -> list[float]:
        pairs = zip(self.arrivals, self.arrivals[1:], strict=False)
        return [later - earlier for earlier, later in pairs]


def answer(status: int, body: bytes = b"", **headers: str) -> Route:
    return lambda params: (status, {k.replace("_", "-"): v for k, v in headers.items()}, body)


def hf_day(params: dict[str, list[str]]) -> Response:
    return 200, {"Content-Type": "application/json"}, HF_DAILY.read_bytes()


def slow(route: Route, *, seconds: float) -> Route:
    def stalled(params: dict[str, list[str]]) -> Response:
        time.sleep(seconds)
        return route(params)

    return stalled


def empty_after_first_page(params: dict[str, list[str]]) -> Response:
    if params.get("start", ["0"])[0] == "0":
        return arxiv_pages_route(params)
    return arxiv_pages_route({"start": ["999"]})  # the feed header, no entry


def cut_page(params: dict[str, list[str]]) -> Response:
    # A complete HTTP answer whose document stops inside the third entry.
    page = ARXIV_PAGES[0].read_bytes()
    third = page.index(b"<entry>", page.index(b"<entry>", page.index(b"<entry>") + 1) + 1)
    return 200, {"Content-Type": "application/atom+xml"}, page[: third + 300]


def snapshot() -> dict[str, list[dict]]:
    """Every stored paper, code link and trending signal, field by field."""
    return {
        model.__name__: [model_to_dict(row) for row in model.objects.order_by("pk")]
        for model in (Paper, CodeLink, TrendingSignal)
    }


@pytest.fixture
def stored() -> dict[str, list[dict]]:
    """What earlier ingestions left: the first recorded arXiv page and a Hugging Face day."""
    reports = replay(paths=[ARXIV_PAGES[0], HF_DAILY])
    assert all(report.problem is None for report in reports)
    return snapshot()


def failed_run_error() -> str:
    run = IngestionRun.objects.order_by("-pk").first()
    assert run.status == IngestionRun.Status.FAILED
    return run.error


# --- arXiv ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "error", "requests"),
    [
        pytest.param([answer(503, b"down")], "HTTP 503 after 2 tries", 2, id="503"),
        pytest.param(
            [answer(429, b"slow down", Retry_After="3600")],
            "HTTP 429 after 2 tries",
            2,
            id="429-asking-for-an-hour",
        ),
        pytest.param(
            [empty_after_first_page],
            "empty page mid-pagination after 2 tries",
            3,
            id="empty-page-mid-pagination",
        ),
        pytest.param([cut_page], "damaged page refused: malformed XML at line", 1, id="cut-page"),
        pytest.param(
            # A maintenance page: its DOCTYPE alone gets it refused.
            [answer(200, b"<!DOCTYPE html><html><body>Maintenance</body>")],
            r"refused unsafe XML \(DTDForbidden\)",
            1,
            id="html",
        ),
    ],
)
def test_arxiv_faults_end_in_one_logged_error_and_keep_what_was_stored(
    arxiv_upstream: Upstream, settings, stored, answers: list[Route], error: str, requests: int
):
    settings.ARXIV_NUM_RETRIES = 1
    settings.HTTP_MAX_RETRY_AFTER_SECONDS = 4
    # Page through the recorded page that is already stored, on to the fault.
    settings.ARXIV_STOP_AFTER_KNOWN = settings.ARXIV_MAX_RESULTS
    arxiv_upstream.routes["/api/query"] = script = Script(*answers)

    with pytest.raises(SourceError, match=error) as raised:
        fetch_arxiv()

    assert str(raised.value).startswith("arxiv: ")
    assert len(script.arrivals) == requests
    assert all(gap >= ARXIV_SPACING_SECONDS for gap in script.gaps())
    assert failed_run_error() == str(raised.value)
    assert snapshot() == stored


@pytest.mark.parametrize(
    "retry_after",
    [
        pytest.param(lambda: "5", id="seconds"),
        pytest.param(lambda: formatdate(time.time() + 7, usegmt=True), id="http-date"),
    ],
)
def test_arxiv_waits_out_retry_after_then_carries_on(arxiv_upstream, settings, retry_after):
    settings.ARXIV_MAX_RESULTS = 100
    script = Script(
        lambda params: (429, {"Retry-After": retry_after()}, b"slow down"), arxiv_pages_route
    )
    arxiv_upstream.routes["/api/query"] = script

    report = fetch_arxiv()

    assert report.counts.new == 100
    assert len(script.arrivals) == 2
    assert script.gaps()[0] >= 5
    assert IngestionRun.objects.get().status == IngestionRun.Status.OK


def test_arxiv_caps_a_long_retry_after(arxiv_upstream, settings):
    settings.ARXIV_MAX_RESULTS = 100
    settings.HTTP_MAX_RETRY_AFTER_SECONDS = 4
    script = Script(answer(503, b"down", Retry_After="3600"), arxiv_pages_route)
    arxiv_upstream.routes["/api/query"] = script

    assert fetch_arxiv().counts.new == 100
    # The cap, not the hour asked for (nor arXiv's own 3 s).
    assert settings.HTTP_MAX_RETRY_AFTER_SECONDS <= script.gaps()[0] < 60


def test_arxiv_pages_stay_3_seconds_apart_across_a_retry(arxiv_upstream, settings):
    settings.ARXIV_NUM_RETRIES = 1
    script = Script(arxiv_pages_route, answer(503, b"down"), arxiv_pages_route)
    arxiv_upstream.routes["/api/query"] = script

    assert fetch_arxiv().counts.new == 300
    starts = [path.split("start=")[1].split("&")[0] for path in arxiv_upstream.requests]
    assert starts == ["0", "100", "100", "200"]
    assert all(gap >= ARXIV_SPACING_SECONDS for gap in script.gaps())


def test_a_slow_arxiv_answer_within_the_timeout_is_used(arxiv_upstream, settings):
    settings.ARXIV_MAX_RESULTS = 100
    settings.HTTP_TIMEOUT_SECONDS = 5
    arxiv_upstream.routes["/api/query"] = slow(arxiv_pages_route, seconds=1)
    assert fetch_arxiv().counts.new == 100


def test_a_hanging_arxiv_times_out_without_touching_stored_papers(arxiv_upstream, settings, stored):
    settings.ARXIV_NUM_RETRIES = 2
    settings.HTTP_TIMEOUT_SECONDS = 0.5
    script = Script(slow(arxiv_pages_route, seconds=2))
    arxiv_upstream.routes["/api/query"] = script

    with pytest.raises(SourceError, match=r"^arxiv: network error: ReadTimeout$"):
        fetch_arxiv()
    # The package retries connection errors only: a read timeout ends the fetch at once.
    assert len(script.arrivals) == 1
    assert failed_run_error() == "arxiv: network error: ReadTimeout"
    assert snapshot() == stored


# --- Hugging Face -----------------------------------------------------------------------


@pytest.fixture
def hf_route(upstream: Upstream, settings) -> Callable[[Script], None]:
    settings.HF_API_URL = upstream.url
    settings.HTTP_TIMEOUT_SECONDS = 0.5
    settings.HTTP_MAX_RETRY_AFTER_SECONDS = 2

    def serve(script: Script) -> None:
        upstream.routes["/api/daily_papers"] = script

    return serve


@pytest.mark.parametrize(
    ("answers", "error", "requests"),
    [
        # urllib3's retries: the first try and 3 more, with backoff in between.
        pytest.param([answer(503, b"down")], r"HTTP 503 for http://", 4, id="503"),
        pytest.param(
            [answer(429, b"slow down", Retry_After="3600")],
            r"HTTP 429 for http://",
            4,
            id="429-asking-for-an-hour",
        ),
        pytest.param([slow(hf_day, seconds=2)], r"network error: \w+ for http://", 4, id="hanging"),
        pytest.param(
            [answer(200, HF_DAILY.read_bytes()[:7000])],
            r"invalid JSON at line 1, column \d+: Unterminated string",
            1,
            id="truncated-json",
        ),
        pytest.param(
            [answer(200, b"<!DOCTYPE html><html><body>We'll be right back</body>")],
            r"expected JSON, got HTML or XML \(.<!DOCTYPE html>",
            1,
            id="html",
        ),
    ],
)
def test_huggingface_faults_end_in_one_logged_error_and_keep_what_was_stored(
    hf_route, stored, answers: list[Route], error: str, requests: int
):
    script = Script(*answers)
    hf_route(script)

    with pytest.raises(SourceError, match=error) as raised:
        fetch_huggingface(day=HF_DAY)

    assert str(raised.value).startswith("huggingface: ")
    assert len(script.arrivals) == requests
    assert failed_run_error() == str(raised.value)
    assert snapshot() == stored


def test_huggingface_429_waits_the_capped_retry_after(hf_route):
    script = Script(answer(429, b"slow down", Retry_After="3600"), hf_day)
    hf_route(script)

    assert fetch_huggingface(day=HF_DAY).counts.new == 30
    assert 2 <= script.gaps()[0] < 60


def test_huggingface_waits_out_a_short_retry_after(hf_route, settings):
    settings.HTTP_MAX_RETRY_AFTER_SECONDS = 60
    script = Script(answer(429, b"slow down", Retry_After="3"), hf_day)
    hf_route(script)

    assert fetch_huggingface(day=HF_DAY).counts.new == 30
    assert script.gaps()[0] >= 3


# --- The digest goes out anyway -----------------------------------------------------------


def test_the_next_days_digest_goes_out_with_what_we_have(corpus, upstream, settings, smtp_server):
    from digest.models import DeliveryItem, Subscriber
    from digest.services import delivery

    readers = [
        Subscriber.objects.create(
            email=f"r{n}@example.org",
            status=Subscriber.Status.ACTIVE,
            interests="LLM agents",
            digest_size=3,
        )
        for n in range(3)
    ]
    before = snapshot()
    settings.ARXIV_API_URL, settings.HF_API_URL = f"{upstream.url}/api/query", upstream.url
    settings.ARXIV_NUM_RETRIES = 1
    upstream.routes["/api/query"] = Script(answer(503, b"down"))
    upstream.routes["/api/daily_papers"] = Script(answer(200, b"<!DOCTYPE html><html>"))
    with pytest.raises(SourceError, match=r"^arxiv: "):
        fetch_arxiv()
    with pytest.raises(SourceError, match=r"^huggingface: "):
        fetch_huggingface(day=date(2026, 6, 13))
    assert snapshot() == before

    report = delivery.send_day(day=date(2026, 6, 13))

    assert (report.sent, report.failed) == (3, 0)
    assert all(len(smtp_server.to(reader.email)) == 1 for reader in readers)
    mailed = set(DeliveryItem.objects.values_list("paper_id", flat=True))
    assert mailed and mailed <= {paper["arxiv_id"] for paper in before["Paper"]}
