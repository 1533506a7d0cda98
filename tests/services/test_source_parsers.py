"""The pure parsers on the recorded upstream responses, and on damaged or hostile input."""

import json
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.services.sources.arxiv_feed import parse_api_page, parse_rss_feed, split_arxiv_id
from digest.services.sources.huggingface import parse_daily_papers
from digest.services.sources.recorded import parse_recorded
from digest.services.sources.records import SourceError
from tests.conftest import (
    ARXIV_PAGES,
    ARXIV_RECORDED_JSON,
    ARXIV_RSS_TRUNCATED,
    HF_DAILY,
)


def test_api_pages_give_every_field_of_every_entry():
    pages = [parse_api_page(path.read_bytes()) for path in ARXIV_PAGES]
    records = [record for page in pages for record in page.records]
    assert [len(page.records) for page in pages] == [100, 100, 100]
    assert all(page.problem is None and page.total_results == 566020 for page in pages)
    assert len({record.arxiv_id for record in records}) == 300

    first = pages[0].records[0]
    assert first.arxiv_id == "2512.13690"
    assert first.version == 1
    assert (
        first.title == "DiffusionBrowser: Interactive Diffusion Previews via Multi-Branch Decoders"
    )
    assert first.abstract.startswith("Video diffusion models have revolutionized")
    assert "\n" not in first.abstract
    assert first.authors[:2] == ("Susung Hong", "Chongjian Ge")
    assert first.primary_category == "cs.CV"
    assert first.categories == ("cs.CV", "cs.AI", "cs.GR", "cs.LG")
    assert first.published == datetime(2025, 12, 15, 18, 59, 57, tzinfo=UTC)
    assert first.comment == "Project page: https://susunghong.github.io/DiffusionBrowser"
    assert first.abs_url == "https://arxiv.org/abs/2512.13690"
    assert first.pdf_url == "https://arxiv.org/pdf/2512.13690"
    assert all(record.title and record.authors and record.categories for record in records)


def test_recorded_json_is_unwrapped_and_its_latin1_mojibake_undone():
    page = parse_recorded(ARXIV_RECORDED_JSON.read_bytes())
    assert page.source == "arxiv"
    assert len(page.records) == 100
    names = [name for record in page.records for name in record.authors]
    assert not any("Ã" in name for name in names)
    assert any("í" in name for name in names)


def test_truncated_rss_keeps_the_complete_entries_and_names_the_damage():
    page = parse_rss_feed(ARXIV_RSS_TRUNCATED.read_bytes())
    assert len(page.records) == 86
    assert "malformed XML at line 1233" in page.problem
    first = page.records[0]
    assert first.arxiv_id == "2508.13167"
    assert first.abstract.startswith("Recent advances in large language models")
    assert "Announce Type" not in first.abstract
    assert first.authors[:2] == ("Weizhen Li", "Jianbo Lin")
    assert first.primary_category == "cs.AI"


def test_daily_papers_keep_upvotes_comments_and_github_fields():
    page = parse_daily_papers(HF_DAILY.read_bytes())
    raw = json.loads(HF_DAILY.read_bytes())
    assert len(page.records) == 30 and page.problem is None
    assert sum(1 for record in page.records if record.github_repo) == 16
    first, item = page.records[0], raw[0]
    assert first.paper.arxiv_id == item["paper"]["id"]
    assert first.upvotes == item["paper"]["upvotes"]
    assert first.num_comments == item["numComments"]
    assert first.featured_on == date(2026, 6, 12)
    assert first.paper.metadata_source == "hf"
    with_repo = next(r for r, i in zip(page.records, raw, strict=True) if r.github_repo)
    item = raw[page.records.index(with_repo)]
    assert with_repo.github_repo == item["paper"]["githubRepo"]
    assert with_repo.github_stars == item["paper"].get("githubStars")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<!DOCTYPE html><html><body>Rate limited</body></html>", "expected JSON, got HTML"),
        (HF_DAILY.read_bytes()[:5000], "invalid JSON at line"),
        (b'{"error": "Invalid date"}', "expected a JSON list of daily papers, got a dict"),
        (b'[{"title": "no paper object"}]', "no usable daily paper"),
    ],
)
def test_bad_daily_papers_documents_are_named_errors(content, message):
    with pytest.raises(SourceError, match=message) as error:
        parse_daily_papers(content)
    assert str(error.value).startswith("huggingface: ")


def test_an_empty_daily_list_is_an_empty_page():
    assert parse_daily_papers(b"[]").records == []


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&lol2;</title></entry></feed>"""


@pytest.mark.parametrize("parse", [parse_api_page, parse_rss_feed])
def test_entity_expansion_is_refused(parse):
    with pytest.raises(SourceError, match="refused unsafe XML"):
        parse(BILLION_LAUGHS)


def test_a_document_broken_before_any_entry_is_an_error():
    with pytest.raises(SourceError, match="arxiv: malformed XML at line"):
        parse_api_page(ARXIV_PAGES[0].read_bytes()[:300])


def test_an_api_page_without_entries_is_empty_not_an_error():
    head = ARXIV_PAGES[0].read_bytes().split(b"<entry>")[0] + b"</feed>"
    page = parse_api_page(head)
    assert page.records == [] and page.problem is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"url": "x", "status_code": 503, "body": "Service Unavailable"}', "HTTP 503"),
        (b"just text", "unrecognised format"),
        (b"<rss><channel/></rss>", "neither an arXiv API page"),
    ],
)
def test_unrecognised_recordings_are_named(content, message):
    with pytest.raises(SourceError, match=message):
        parse_recorded(content)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://arxiv.org/abs/2512.13690v2", ("2512.13690", 2)),
        ("oai:arXiv.org:2508.13167v1", ("2508.13167", 1)),
        ("2606.00467", ("2606.00467", 1)),
        ("http://arxiv.org/abs/hep-th/9901001v3", ("hep-th/9901001", 3)),
    ],
)
def test_arxiv_ids_split_into_id_and_version(raw, expected):
    assert split_arxiv_id(raw) == expected


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_page_or_a_source_error(content):
    for parse in (parse_recorded, parse_api_page, parse_rss_feed, parse_daily_papers):
        try:
            page = parse(content)
        except SourceError:
            continue
        assert isinstance(page.records, list)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=len(ARXIV_PAGES[0].read_bytes())))
def test_an_api_page_cut_anywhere_keeps_only_complete_entries(cut):
    content = ARXIV_PAGES[0].read_bytes()
    try:
        page = parse_api_page(content[:cut])
    except SourceError:
        return
    complete = content[:cut].count(b"</entry>")
    assert len(page.records) == complete
