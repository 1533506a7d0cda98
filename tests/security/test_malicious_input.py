"""Hostile input from upstream and from readers: XML entity payloads are refused, markup and
line breaks in titles reach pages escaped and headers flattened, and over-long fields are
refused with a clear error instead of aborting a batch or bloating pages.

Documents are the recorded ones (../shared/data) with one field altered."""

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from html import escape
from pathlib import Path

import pytest
from defusedxml import ElementTree
from django.core.cache import cache
from django.db import connection
from django.urls import reverse

from digest.models import Category, CodeLink, IngestionRun, Paper, Subscriber
from digest.services.emails.compose import digest_subject
from digest.services.sources.arxiv_feed import clean_text
from digest.services.sources.fetch import fetch_arxiv, replay
from digest.services.sources.records import (
    MAX_CATEGORY_LENGTH,
    MAX_COUNT,
    MAX_LENGTHS,
    SourceError,
)
from digest.services.trending import recompute_trending
from tests.conftest import ARXIV_PAGES, HF_DAILY

pytestmark = pytest.mark.django_db

PAGE = ARXIV_PAGES[0].read_bytes()
FIRST_TITLE = b"<title>DiffusionBrowser"
MEGABYTE = 1_000_000
HF_DAY = date(2026, 6, 12)


def altered_page(old: bytes, new: bytes) -> bytes:
    """The first recorded arXiv page with the first `old` replaced (it is in the first entry)."""
    assert old in PAGE
    return PAGE.replace(old, new, 1)


def with_doctype(doctype: bytes, reference: bytes) -> bytes:
    """The recorded page with a DTD, and `reference` to it in the first entry's title."""
    declaration, rest = PAGE.split(b"?>", 1)
    return declaration + b"?>\n" + doctype + rest.replace(FIRST_TITLE, FIRST_TITLE + reference, 1)


def altered_daily_papers(**fields: object) -> bytes:
    """The recorded Hugging Face day with fields of the first paper replaced."""
    items = json.loads(HF_DAILY.read_bytes())
    items[0]["paper"].update(fields)
    return json.dumps(items).encode()


def write(tmp_path: Path, content: bytes, name: str = "document") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


# --- XML entity payloads ----------------------------------------------------------------

LOL = b'<!ENTITY a "lollollollollollollollollollol">'
PAYLOADS = {
    "billion-laughs": with_doctype(
        b"<!DOCTYPE feed [" + LOL
        + b"".join(b'<!ENTITY %c "%s">' % (ord("b") + level, b"&%c;" % (ord("a") + level) * 10)
                   for level in range(8))
        + b"]>",
        b"&i;",
    ),
    "quadratic-blowup": with_doctype(
        b'<!DOCTYPE feed [<!ENTITY a "' + b"a" * 3_000 + b'">]>', b"&a;" * 5_000
    ),
    "external-entity": with_doctype(
        b'<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', b"&xxe;"
    ),
    "external-dtd": with_doctype(
        b'<!DOCTYPE feed SYSTEM "http://127.0.0.1:9/evil.dtd">', b""
    ),
}  # fmt: skip


def recording(body: bytes) -> bytes:
    """The JSON wrapper recorders store a response in (as ../shared/data does)."""
    return json.dumps({"url": "x", "status_code": 200, "body": body.decode()}).encode()


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("wrap", [bytes, recording], ids=["file", "recording"])
def test_entity_payloads_in_replayed_files_are_refused(tmp_path, payload, wrap):
    (report,) = replay(paths=[write(tmp_path, wrap(payload))])
    assert report.problem == "refused unsafe XML (DTDForbidden)"
    assert Paper.objects.count() == 0
    assert IngestionRun.objects.get().status == IngestionRun.Status.FAILED


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_entity_payloads_from_live_arxiv_are_refused(arxiv_upstream, settings, payload):
    settings.ARXIV_MAX_RESULTS = 100
    arxiv_upstream.routes["/api/query"] = lambda params: (200, {}, payload)
    with pytest.raises(SourceError, match=r"^arxiv: refused unsafe XML \(DTDForbidden\)$"):
        fetch_arxiv()
    assert Paper.objects.count() == 0
    assert IngestionRun.objects.get().status == IngestionRun.Status.FAILED


# --- markup and line breaks in titles ---------------------------------------------------

TITLE = '<script>alert("title")</script>\r\nSet-Cookie: pwned=1\r\n\r\n<b>Hostile</b> Title'
AUTHOR = '<img src=x onerror=alert("author")>'
ABSTRACT = '</p><script>alert("abstract")</script><p>'
RAW_MARKUP = ["<script>alert(", "<img src=x", "<b>Hostile</b>"]


@pytest.fixture
def hostile_paper(tmp_path) -> Paper:
    """A Hugging Face day whose first paper carries markup and header injection attempts, new
    that day and upvoted enough to top the day's trending page and the feed."""
    content = altered_daily_papers(
        title=TITLE,
        summary=ABSTRACT,
        authors=[{"name": AUTHOR}],
        upvotes=100_000,
        publishedAt=f"{HF_DAY}T08:00:00.000Z",
    )
    (report,) = replay(paths=[write(tmp_path, content, "daily_papers.json")])
    assert report.problem is None
    recompute_trending(now=datetime.combine(HF_DAY, time(12), tzinfo=UTC))
    return Paper.objects.get(pk=json.loads(HF_DAILY.read_bytes())[0]["paper"]["id"])


def assert_escaped(html: str, *texts: str) -> None:
    for text in texts:
        assert escape(text) in html
    for markup in RAW_MARKUP:
        assert markup not in html


def test_titles_are_stored_on_one_line(hostile_paper):
    assert hostile_paper.title == clean_text(TITLE)
    assert "\r" not in hostile_paper.title and "\n" not in hostile_paper.title


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(lambda paper: reverse("trending") + f"?day={HF_DAY}", id="trending"),
        pytest.param(lambda paper: reverse("paper-detail", args=[paper.pk]), id="paper"),
        pytest.param(lambda paper: reverse("search") + "?q=alert", id="search"),
    ],
)
def test_markup_in_titles_and_authors_is_escaped_in_pages(
    client, hostile_paper, page: Callable[[Paper], str]
):
    response = client.get(page(hostile_paper))
    assert response.status_code == 200
    assert_escaped(response.content.decode(), hostile_paper.title, AUTHOR)
    assert "pwned" not in str(response.cookies)


def test_markup_in_titles_is_text_in_the_feed(client, hostile_paper):
    cache.clear()
    response = client.get(reverse("feed-trending-rss"))
    titles = [
        item.findtext("title") for item in ElementTree.fromstring(response.content).iter("item")
    ]
    assert titles[0] == hostile_paper.title


def test_markup_in_an_abstract_is_escaped_on_its_page(client, hostile_paper):
    response = client.get(reverse("paper-detail", args=[hostile_paper.pk]))
    assert_escaped(response.content.decode(), ABSTRACT)


def test_a_search_query_with_markup_is_echoed_escaped(client):
    query = '"><script>alert("q")</script>'
    response = client.get(reverse("search"), {"q": query})
    assert response.status_code == 200
    assert_escaped(response.content.decode(), query)


def test_a_hostile_title_leaves_the_email_subject_one_line(hostile_paper):
    subject = digest_subject(day=HF_DAY, titles=[hostile_paper.title, TITLE])
    assert "\r" not in subject and "\n" not in subject
    assert subject.startswith("12 Jun 2026: <script>alert")


# --- over-long fields -------------------------------------------------------------------

OVERLONG_ENTRIES = {
    "title": (
        altered_page(FIRST_TITLE, FIRST_TITLE + b"A" * MEGABYTE),
        "2512.13690: title is longer than 1,000 characters",
    ),
    "abstract": (
        altered_page(b"<summary>Video", b"<summary>Video" + b" long" * MEGABYTE),
        "2512.13690: abstract is longer than 10,000 characters",
    ),
    "doi": (
        altered_page(b"</entry>", b"<arxiv:doi>10.1/" + b"x" * 300 + b"</arxiv:doi></entry>"),
        "2512.13690: doi is longer than 255 characters",
    ),
    "category": (
        altered_page(b'term="cs.CV"', b'term="cs.' + b"V" * 100 + b'"'),
        "2512.13690: a category is longer than 32 characters",
    ),
    "version": (
        altered_page(b"2512.13690v1</id>", b"2512.13690v99999999999</id>"),
        "2512.13690: version 99999999999 is out of range",
    ),
    "identifier": (
        altered_page(b"2512.13690v1</id>", b"a" * 100 + b"/1234567v1</id>"),
        "arxiv_id is longer than 32 characters",
    ),
}


def test_record_limits_are_the_column_widths():
    # A record that passes its limits can always be stored: the batch never aborts.
    for name, limit in MAX_LENGTHS.items():
        width = Paper._meta.get_field(name).max_length
        assert width is None or width == limit, name
    assert Category._meta.get_field("term").max_length == MAX_CATEGORY_LENGTH
    assert connection.ops.integer_field_range("PositiveIntegerField") == (0, MAX_COUNT)


@pytest.mark.parametrize(
    ("content", "problem"), OVERLONG_ENTRIES.values(), ids=OVERLONG_ENTRIES.keys()
)
def test_an_overlong_arxiv_field_skips_its_entry_with_a_clear_error(tmp_path, content, problem):
    (report,) = replay(paths=[write(tmp_path, content)])
    assert report.problem.startswith("skipped an entry: ")
    assert problem in report.problem
    assert Paper.objects.count() == 99
    run = IngestionRun.objects.get()
    assert run.status == IngestionRun.Status.PARTIAL and problem in run.error


def test_an_overlong_title_from_live_arxiv_fails_the_fetch_clearly(arxiv_upstream, settings):
    settings.ARXIV_MAX_RESULTS = 100
    content = OVERLONG_ENTRIES["title"][0]
    arxiv_upstream.routes["/api/query"] = lambda params: (200, {}, content)
    message = "arxiv: unreadable response: 2512.13690: title is longer than 1,000 characters"
    with pytest.raises(SourceError) as raised:
        fetch_arxiv()
    assert str(raised.value) == message
    assert IngestionRun.objects.get().error == message


def test_an_out_of_range_count_skips_its_daily_paper(tmp_path):
    (report,) = replay(paths=[write(tmp_path, altered_daily_papers(upvotes=10**12))])
    assert report.problem.startswith("item 0: ") and "a count is out of range" in report.problem
    assert Paper.objects.count() == 29


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"githubRepo": "https://github.com/o/" + "r" * 300}, id="github-repo"),
        pytest.param({"summary": "Code: https://github.com/o/" + "r" * 300 + "."}, id="abstract"),
    ],
)
def test_an_overlong_repository_url_is_not_linked_and_the_paper_is_kept(tmp_path, fields):
    (report,) = replay(paths=[write(tmp_path, altered_daily_papers(**fields))])
    assert report.problem is None
    assert Paper.objects.count() == 30
    assert not CodeLink.objects.filter(name__startswith="rrrr").exists()


@pytest.mark.parametrize("url_name", ["search", "api-papers"])
def test_a_very_long_search_query_is_cut_or_refused(client, url_name):
    # The page and the API both search only the first MAX_QUERY_LENGTH characters.
    cache.clear()
    response = client.get(reverse(url_name), {"q": "diffusion " * 10_000})
    assert response.status_code in (200, 400)


def test_an_overlong_signup_is_refused_with_a_form_error(client):
    cache.clear()
    data = {"email": "reader@example.org", "interests": "x" * MEGABYTE, "delivery_hour": 8,
            "timezone": "UTC", "digest_size": 10}  # fmt: skip
    response = client.post(reverse("subscribe"), data)
    assert response.status_code == 200
    assert "at most 2000 characters" in response.content.decode()
    assert not Subscriber.objects.exists()


# --- markup smuggled through LaTeX math ---------------------------------------------------

# latex2mathml copies \text{} and \href{} into its output unescaped: the pages must not.
HOSTILE_MATH_TITLE = (
    r'Fast $\text{<script>alert("math")</script>}$ and $\href{javascript:alert(1)}{x}$'
)
HOSTILE_MATH_ABSTRACT = (
    r'We show $x^2$ and $\text{"><img src=x onerror=alert(2)>}$ and $\mathrm{</math><b>b</b>}$.'
)


def test_markup_in_math_is_never_markup_on_pages(client, tmp_path):
    content = altered_daily_papers(title=HOSTILE_MATH_TITLE, summary=HOSTILE_MATH_ABSTRACT)
    (report,) = replay(paths=[write(tmp_path, content, "daily_papers.json")])
    assert report.problem is None
    recompute_trending()
    paper = Paper.objects.get(pk=json.loads(HF_DAILY.read_bytes())[0]["paper"]["id"])
    for url in (reverse("paper-detail", args=[paper.pk]), reverse("trending")):
        html = client.get(url).content.decode()
        assert "<script>alert(" not in html and "<img src=x" not in html
        assert 'href="javascript:' not in html and "<b>b</b>" not in html
    html = client.get(reverse("paper-detail", args=[paper.pk])).content.decode()
    assert "<msup><mi>x</mi><mn>2</mn></msup>" in html  # the harmless formula is typeset
