"""Live fetching through the real clients, against a loopback server replaying recordings."""

import time
from dataclasses import replace
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest

from digest.models import CodeLink, IngestionRun, Paper, TrendingSignal
from digest.services.sources.arxiv_feed import parse_api_page
from digest.services.sources.fetch import fetch_arxiv, fetch_huggingface
from digest.services.sources.huggingface import parse_daily_papers
from digest.services.sources.ingest import upsert_daily_papers
from digest.services.sources.records import SourceError
from digest.services.sources.stars import refresh_stars
from tests.conftest import ARXIV_PAGES, HF_DAILY, arxiv_pages_route

pytestmark = pytest.mark.django_db


def test_arxiv_pages_through_the_arxiv_client_newest_first(arxiv_upstream):
    started = time.monotonic()
    report = fetch_arxiv()
    elapsed = time.monotonic() - started

    assert (report.counts.new, report.counts.updated) == (300, 0)
    assert Paper.objects.count() == 300
    starts = [path.split("start=")[1].split("&")[0] for path in arxiv_upstream.requests]
    assert starts == ["0", "100", "200"]
    assert "sortBy=submittedDate" in arxiv_upstream.requests[0]
    assert "cat%3Acs.AI+OR+cat%3Acs.LG" in arxiv_upstream.requests[0]
    # arXiv's terms: at most one request every 3 seconds.
    assert elapsed >= 2 * 3
    assert IngestionRun.objects.get().status == IngestionRun.Status.OK


def test_arxiv_fetch_stops_once_it_reaches_papers_it_has(arxiv_upstream, settings):
    settings.ARXIV_STOP_AFTER_KNOWN = 25
    fetch_arxiv()
    arxiv_upstream.requests.clear()
    report = fetch_arxiv()
    assert report.counts.new == 0
    assert len(arxiv_upstream.requests) == 1


def test_arxiv_fetch_stops_at_since(arxiv_upstream):
    report = fetch_arxiv(since=date(2025, 12, 15))
    oldest = Paper.objects.order_by("published").first().published.date()
    assert oldest >= date(2025, 12, 15)
    assert 0 < report.counts.new < 300


def test_arxiv_http_errors_are_one_line_and_keep_stored_papers(arxiv_upstream, settings):
    settings.ARXIV_NUM_RETRIES = 0
    fetch_arxiv()
    arxiv_upstream.routes["/api/query"] = lambda params: (503, {}, b"Service Unavailable")
    with pytest.raises(SourceError, match=r"^arxiv: HTTP 503 after 1 tries$"):
        fetch_arxiv()
    assert Paper.objects.count() == 300
    failed = IngestionRun.objects.get(status=IngestionRun.Status.FAILED)
    assert failed.error == "arxiv: HTTP 503 after 1 tries"


def _lookups(paths: list[str]) -> list[list[str]]:
    """The ids asked for by each lookup request (the package sends an empty id_list always)."""
    queries = [parse_qs(urlsplit(path).query) for path in paths]
    return [sorted(query["id_list"][0].split(",")) for query in queries if "id_list" in query]


def test_papers_known_only_from_hugging_face_get_arxivs_metadata(arxiv_upstream, settings):
    # Three recorded arXiv papers, as Hugging Face would feature them before our arXiv fetch
    # reached them: its record has no categories and no comment.
    last_page = parse_api_page(ARXIV_PAGES[2].read_bytes()).records[:3]
    daily = parse_daily_papers(HF_DAILY.read_bytes()).records[0]
    upsert_daily_papers(
        [
            replace(
                daily,
                paper=replace(record, primary_category="", categories=(), metadata_source="hf"),
                github_repo=None,
            )
            for record in last_page
        ]
    )
    settings.ARXIV_MAX_RESULTS = 100  # the newest-first stream reads the first page only

    report = fetch_arxiv()

    lookups = _lookups(arxiv_upstream.requests)
    assert lookups == [sorted(record.arxiv_id for record in last_page)]
    assert len(arxiv_upstream.requests) == 2
    assert report.counts.updated == 3
    for record in last_page:
        paper = Paper.objects.get(pk=record.arxiv_id)
        assert paper.metadata_source == Paper.MetadataSource.ARXIV
        assert paper.primary_category == record.primary_category
        assert sorted(paper.categories.values_list("term", flat=True)) == sorted(record.categories)
    # Once arXiv's record is stored, nothing is asked for again.
    arxiv_upstream.requests.clear()
    fetch_arxiv()
    assert _lookups(arxiv_upstream.requests) == []


def test_a_failed_lookup_keeps_the_newest_papers_and_says_so(arxiv_upstream, settings):
    daily = parse_daily_papers(HF_DAILY.read_bytes()).records
    upsert_daily_papers(daily)
    settings.ARXIV_MAX_RESULTS, settings.ARXIV_NUM_RETRIES = 100, 0
    arxiv_upstream.routes["/api/query"] = lambda params: (
        (503, {}, b"Service Unavailable") if "id_list" in params else arxiv_pages_route(params)
    )

    report = fetch_arxiv()

    assert report.counts.new == 100
    run = IngestionRun.objects.get(source="arxiv")
    assert run.status == IngestionRun.Status.PARTIAL
    assert run.error == "looking up papers known from Hugging Face: arxiv: HTTP 503 after 1 tries"
    assert report.problem == run.error
    assert Paper.objects.filter(metadata_source=Paper.MetadataSource.HF).count() == len(daily)


def test_huggingface_daily_papers_by_date(hf_upstream):
    report = fetch_huggingface(day=date(2026, 6, 12))
    assert report.counts.new == 30
    assert hf_upstream.requests == ["/api/daily_papers?date=2026-06-12"]
    assert TrendingSignal.objects.filter(featured_on=date(2026, 6, 12)).count() == 30
    assert CodeLink.objects.filter(source=CodeLink.Source.HF).count() == 16


def test_huggingface_answering_html_fails_clearly(upstream, settings):
    settings.HF_API_URL = upstream.url
    upstream.routes["/api/daily_papers"] = lambda params: (200, {}, b"<!DOCTYPE html><html>")
    with pytest.raises(SourceError, match="huggingface: expected JSON, got HTML"):
        fetch_huggingface(day=date(2026, 6, 12))
    assert IngestionRun.objects.get().status == IngestionRun.Status.FAILED


def test_star_refresh_reads_github_and_stops_at_the_rate_limit(hf_upstream, settings):
    fetch_huggingface(day=date(2026, 6, 12))
    settings.GITHUB_API_URL = hf_upstream.url
    settings.GITHUB_TOKEN = "test-token"
    links = list(CodeLink.objects.filter(host="github.com").order_by("id"))
    served = []

    def repo(path_link):
        def answer(params):
            if len(served) >= 3:
                reset = str(int(time.time()) + 600)
                headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
                return 403, headers, b'{"message": "API rate limit exceeded"}'
            served.append(path_link)
            return 200, {}, b'{"stargazers_count": %d}' % ((path_link.stars or 0) + 7)

        return answer

    for link in links:
        hf_upstream.routes[f"/repos/{link.owner}/{link.name}"] = repo(link)
    outcome = refresh_stars(limit=10)
    assert outcome.checked == 3
    assert outcome.rate_limited_until is not None
    for link in served:
        link.refresh_from_db()
        assert link.snapshots.count() == (2 if link.source == CodeLink.Source.HF else 1)


def test_an_empty_page_mid_pagination_keeps_the_pages_before_it(arxiv_upstream, settings):
    settings.ARXIV_NUM_RETRIES = 1

    def first_page_only(params):
        if params.get("start", ["0"])[0] == "0":
            return arxiv_pages_route(params)
        return arxiv_pages_route({"start": ["999"]})  # the feed header, no entry

    arxiv_upstream.routes["/api/query"] = first_page_only
    with pytest.raises(SourceError, match="arxiv: empty page mid-pagination after 2 tries"):
        fetch_arxiv()
    assert Paper.objects.count() == 100
    run = IngestionRun.objects.get()
    assert (run.status, run.new) == (IngestionRun.Status.FAILED, 100)
    # One page, then the empty one and its retry: never faster than one request every 3 s.
    assert len(arxiv_upstream.requests) == 3


def test_a_hanging_upstream_times_out(arxiv_upstream, settings):
    settings.ARXIV_NUM_RETRIES = 0
    settings.HTTP_TIMEOUT_SECONDS = 0.5

    def hang(params):
        time.sleep(2)
        return arxiv_pages_route(params)

    arxiv_upstream.routes["/api/query"] = hang
    with pytest.raises(SourceError, match="arxiv: network error: ReadTimeout"):
        fetch_arxiv()


def test_a_refused_repository_costs_one_link_and_the_refresh_goes_on(hf_upstream, settings, caplog):
    fetch_huggingface(day=date(2026, 6, 12))
    settings.GITHUB_API_URL = hf_upstream.url
    settings.GITHUB_TOKEN = "test-token"
    links = list(CodeLink.objects.filter(host="github.com").order_by("id"))
    blocked, forbidden = links[0], links[1]
    # GitHub's answers for a DMCA-blocked repository and a forbidden one (not a rate limit).
    hf_upstream.routes[f"/repos/{blocked.owner}/{blocked.name}"] = lambda params: (
        451,
        {},
        b'{"message": "Repository access blocked"}',
    )
    hf_upstream.routes[f"/repos/{forbidden.owner}/{forbidden.name}"] = lambda params: (
        403,
        {"X-RateLimit-Remaining": "4000"},
        b'{"message": "Forbidden"}',
    )
    for link in links[2:]:
        hf_upstream.routes[f"/repos/{link.owner}/{link.name}"] = lambda params: (
            200,
            {},
            b'{"stargazers_count": 12345}',
        )

    outcome = refresh_stars(limit=len(links))

    assert outcome.checked == len(links)
    assert CodeLink.objects.filter(host="github.com", stars=12345).count() == len(links) - 2
    # Both bad links count as read, so the next run starts with other links.
    assert CodeLink.objects.filter(host="github.com", stars_checked_at=None).count() == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("HTTP 451" in w and blocked.name in w for w in warnings)
    assert any("HTTP 403" in w and forbidden.name in w for w in warnings)
