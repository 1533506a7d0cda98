"""Replaying recorded responses into the database: counts, fields, idempotency, precedence."""

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from digest.models import CodeLink, IngestionRun, Paper, StarSnapshot, TrendingSignal
from digest.services.moderation import correct_code_link
from digest.services.sources.arxiv_feed import parse_api_page
from digest.services.sources.fetch import replay
from digest.services.sources.huggingface import parse_daily_papers
from digest.services.sources.ingest import link_code, store_papers, upsert_daily_papers
from tests.conftest import ARXIV_PAGES, ARXIV_RSS_TRUNCATED, DATA_DIR, HF_DAILY

pytestmark = pytest.mark.django_db


def _snapshot() -> dict:
    """Everything a replay could touch, to compare before and after."""
    return {
        "papers": list(Paper.objects.order_by("pk").values()),
        "categories": sorted(
            Paper.categories.through.objects.values_list("paper_id", "category_id")
        ),
        "links": list(CodeLink.objects.order_by("pk").values()),
        "signals": list(TrendingSignal.objects.order_by("pk").values()),
        "snapshots": StarSnapshot.objects.count(),
    }


def test_replaying_arxiv_and_hf_stores_one_paper_per_id_and_again_changes_nothing():
    paths = [DATA_DIR / "arxiv", DATA_DIR / "huggingface"]
    reports = replay(paths=paths)
    assert [r.counts.new for r in reports] == [100, 100, 100, 100, 30]
    assert Paper.objects.count() == 430
    before = _snapshot()

    again = replay(paths=paths)
    assert all(r.counts.new == r.counts.updated == 0 for r in again)
    assert sum(r.counts.unchanged for r in again) == 430
    assert _snapshot() == before


def test_stored_paper_has_every_field():
    replay(paths=[ARXIV_PAGES[0]])
    paper = Paper.objects.get(pk="2512.13690")
    assert paper.version == 1
    assert paper.title.startswith("DiffusionBrowser")
    assert paper.authors[0] == "Susung Hong"
    assert paper.primary_category == "cs.CV"
    assert sorted(paper.categories.values_list("term", flat=True)) == [
        "cs.AI",
        "cs.CV",
        "cs.GR",
        "cs.LG",
    ]
    assert paper.comment.startswith("Project page:")
    assert paper.abs_url == "https://arxiv.org/abs/2512.13690"
    assert paper.pdf_url == "https://arxiv.org/pdf/2512.13690"
    assert paper.first_seen_at is not None
    # The project page in the comment is not a code link.
    assert not paper.code_links.exists()


def test_code_links_from_abstracts_are_canonical():
    replay(paths=ARXIV_PAGES)
    link = CodeLink.objects.get(paper_id="2512.13689")
    assert (link.url, link.host, link.owner, link.name) == (
        "https://github.com/prs-eth/LitePT",
        "github.com",
        "prs-eth",
        "LitePT",
    )
    assert link.source == CodeLink.Source.ABSTRACT


def test_truncated_feed_is_recorded_partial_and_loses_nothing_stored():
    replay(paths=ARXIV_PAGES)
    [report] = replay(paths=[ARXIV_RSS_TRUNCATED])
    assert report.source == "arxiv-rss"
    assert "malformed XML at line 1233" in report.problem
    assert Paper.objects.count() == 300 + 86
    run = IngestionRun.objects.get(origin=str(ARXIV_RSS_TRUNCATED))
    assert run.status == IngestionRun.Status.PARTIAL
    assert run.new == 86 and run.finished_at is not None
    assert "malformed XML" in run.error


def test_a_broken_file_records_a_failed_run_and_keeps_stored_papers(tmp_path):
    replay(paths=ARXIV_PAGES)
    broken = tmp_path / "broken.json"
    broken.write_bytes(HF_DAILY.read_bytes()[:3000])
    [report] = replay(paths=[broken])
    assert report.source == "huggingface"
    assert "invalid JSON" in report.problem
    run = IngestionRun.objects.get(origin=str(broken))
    assert run.status == IngestionRun.Status.FAILED
    assert run.error.startswith("huggingface: invalid JSON")
    assert Paper.objects.count() == 300


def test_a_new_arxiv_version_updates_the_paper_and_an_older_one_does_not():
    record = parse_api_page(ARXIV_PAGES[0].read_bytes()).records[0]
    store_papers([record])
    newer = replace(
        record, version=2, title="DiffusionBrowser v2", updated=record.updated + timedelta(days=3)
    )
    assert store_papers([newer]) == {record.arxiv_id: "updated"}
    assert store_papers([record]) == {record.arxiv_id: "unchanged"}
    paper = Paper.objects.get(pk=record.arxiv_id)
    assert (paper.version, paper.title) == (2, "DiffusionBrowser v2")


def test_a_paper_seen_by_both_sources_is_one_paper_with_arxiv_metadata():
    daily = parse_daily_papers(HF_DAILY.read_bytes()).records[0]
    upsert_daily_papers([daily])
    assert Paper.objects.get().metadata_source == "hf"

    arxiv_record = replace(
        daily.paper,
        metadata_source="arxiv",
        primary_category="cs.CL",
        categories=("cs.CL",),
        comment="10 pages",
    )
    assert store_papers([arxiv_record]) == {daily.paper.arxiv_id: "updated"}
    # Hugging Face seen again does not overwrite arXiv's metadata.
    upsert_daily_papers([daily])
    paper = Paper.objects.get()
    assert (paper.metadata_source, paper.primary_category) == ("arxiv", "cs.CL")
    assert paper.signals.get().upvotes == daily.upvotes


def test_hf_github_repo_wins_over_text_and_admin_wins_over_both():
    records = parse_daily_papers(HF_DAILY.read_bytes()).records
    record = next(r for r in records if r.github_repo and "github.com" in r.paper.abstract)
    upsert_daily_papers([record])
    paper = Paper.objects.get()
    link = paper.code_links.get(url=record.github_repo)
    assert link.source == CodeLink.Source.HF
    assert link.stars == record.github_stars
    assert link.snapshots.get().stars == record.github_stars

    link_code(paper=paper, url=record.github_repo, source=CodeLink.Source.ADMIN)
    upsert_daily_papers([replace(record, upvotes=record.upvotes + 5)])
    assert paper.code_links.get(url=record.github_repo).source == CodeLink.Source.ADMIN


def test_a_repository_spelt_in_two_cases_is_one_link_in_the_best_sources_spelling():
    records = parse_daily_papers(HF_DAILY.read_bytes()).records
    record = next(r for r in records if r.github_repo == "https://github.com/SAP/toolsense")
    # Derived from the recorded entry: its abstract names the repository lower-cased, as
    # papers often do while Hugging Face keeps GitHub's spelling.
    abstract = record.paper.abstract.replace("github.com/SAP/toolsense", "github.com/sap/toolsense")
    assert abstract != record.paper.abstract
    upsert_daily_papers([replace(record, paper=replace(record.paper, abstract=abstract))])
    (link,) = CodeLink.objects.all()
    assert (link.url, link.owner, link.source) == (record.github_repo, "SAP", CodeLink.Source.HF)

    paper = Paper.objects.get()
    correct_code_link(paper=paper, url="github.com/sap/TOOLSENSE", actor=None, reason="case")
    (link,) = CodeLink.objects.all()
    assert (link.url, link.source) == ("https://github.com/sap/TOOLSENSE", CodeLink.Source.ADMIN)
    assert link.snapshots.count() == 1  # the reading taken under Hugging Face's spelling


def test_new_upvotes_or_stars_count_as_an_update_and_snapshot_growth():
    records = parse_daily_papers(HF_DAILY.read_bytes()).records
    record = next(r for r in records if r.github_stars)
    upsert_daily_papers([record])
    counts = upsert_daily_papers(
        [replace(record, upvotes=record.upvotes + 1, github_stars=record.github_stars + 40)]
    )
    assert (counts.new, counts.updated, counts.unchanged) == (0, 1, 0)
    stars = list(StarSnapshot.objects.values_list("stars", flat=True))
    assert stars == [record.github_stars, record.github_stars + 40]


def test_latex_in_names_and_titles_is_decoded_once_and_the_upstream_text_kept():
    replay(paths=[ARXIV_RSS_TRUNCATED])
    paper = Paper.objects.get(authors__contains=["Jörg Deigmöller"])
    assert r"J\"org Deigm\"oller" in paper.upstream["authors"]
    assert not any("\\" in name for p in Paper.objects.all() for name in p.authors)
    replay(paths=[ARXIV_RSS_TRUNCATED])  # a second replay finds nothing to change
    assert Paper.objects.get(pk=paper.pk).changed_at == paper.changed_at


def test_math_stays_latex_for_the_pages_and_the_raw_abstract_is_kept():
    replay(paths=[ARXIV_PAGES[0]])
    paper = Paper.objects.get(pk="2512.13689")
    assert "$3.6\\times$ fewer parameters" in paper.abstract
    assert paper.upstream["abstract"].startswith(paper.abstract[:40])


def test_project_pages_come_from_hugging_face_or_the_text():
    replay(paths=[HF_DAILY, ARXIV_PAGES[0]])
    item = next(i for i in json.loads(HF_DAILY.read_bytes()) if i["paper"].get("projectPage"))
    assert Paper.objects.get(pk=item["paper"]["id"]).project_url == item["paper"]["projectPage"]
    from_text = Paper.objects.filter(metadata_source="arxiv").exclude(project_url="")
    assert from_text and all(".github.io/" in paper.project_url for paper in from_text)
