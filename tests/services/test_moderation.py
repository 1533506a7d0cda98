"""Moderation: editors' actions and the audit log, code-link corrections that survive
ingestion, readers' reports, and what ingestion flags on its own."""

from dataclasses import replace
from datetime import date, timedelta

import pytest
from django.utils import timezone

from digest.models import AuditLog, CodeLink, Paper, ProblemReport
from digest.services.moderation import (
    ModerationError,
    PaperAction,
    correct_code_link,
    moderate_papers,
    report_problem,
)
from digest.services.papers import primary_code_link
from digest.services.sources.arxiv_feed import parse_api_page
from digest.services.sources.fetch import replay
from digest.services.sources.huggingface import parse_daily_papers
from digest.services.sources.ingest import store_papers, upsert_daily_papers
from tests.conftest import ARXIV_PAGES, DATA_DIR, HF_DAILY

pytestmark = pytest.mark.django_db


def arxiv_record(arxiv_id: str):
    records = parse_api_page(ARXIV_PAGES[0].read_bytes()).records
    return next(record for record in records if record.arxiv_id == arxiv_id)


def hf_record(arxiv_id: str):
    records = parse_daily_papers(HF_DAILY.read_bytes()).records
    return next(record for record in records if record.paper.arxiv_id == arxiv_id)


def plain(value: object) -> object:
    """A value as the audit log's JSON holds it."""
    return value.isoformat() if isinstance(value, date) else value


# --- Editors' actions --------------------------------------------------------------------


def test_each_action_changes_the_paper_and_is_logged_with_before_and_after(admin_user):
    replay(paths=[ARXIV_PAGES[0]])
    ids = ["2512.13689", "2512.13690"]
    steps = [
        (PaperAction.HIDE, {}, {"hidden": True}),
        (PaperAction.UNHIDE, {}, {"hidden": False}),
        (PaperAction.FEATURE, {"day": date(2025, 12, 16)}, {"featured_on": date(2025, 12, 16)}),
        (PaperAction.UNFEATURE, {}, {"featured_on": None}),
        (PaperAction.FLAG, {}, {"flagged": True, "flag_reason": "check the code"}),
        (PaperAction.CLEAR_FLAG, {}, {"flagged": False, "flag_reason": ""}),
    ]
    for action, extra, expected in steps:
        before = {
            pk: {f: getattr(p, f) for f in expected} for pk, p in Paper.objects.in_bulk(ids).items()
        }
        reason = "check the code"
        assert (
            moderate_papers(paper_ids=ids, action=action, actor=admin_user, reason=reason, **extra)
            == 2
        )
        for paper in Paper.objects.filter(pk__in=ids):
            assert {f: getattr(paper, f) for f in expected} == expected
        entries = AuditLog.objects.filter(action=action)
        assert sorted(entries.values_list("target_id", flat=True)) == ids
        for entry in entries:
            assert entry.actor == admin_user and entry.target_type == "paper"
            assert entry.reason == reason
            plain = {k: v.isoformat() if isinstance(v, date) else v for k, v in expected.items()}
            assert entry.after == plain
            old = {
                k: v.isoformat() if isinstance(v, date) else v
                for k, v in before[entry.target_id].items()
            }
            assert entry.before == old


def test_an_action_that_changes_nothing_logs_nothing(admin_user):
    replay(paths=[ARXIV_PAGES[0]])
    assert (
        moderate_papers(
            paper_ids=["2512.13689"], action=PaperAction.UNHIDE, actor=admin_user, reason="noop"
        )
        == 0
    )
    assert not AuditLog.objects.exists()


def test_actions_need_a_reason_and_featuring_needs_a_day(admin_user):
    replay(paths=[ARXIV_PAGES[0]])
    with pytest.raises(ModerationError, match="reason"):
        moderate_papers(
            paper_ids=["2512.13689"], action=PaperAction.HIDE, actor=admin_user, reason=" "
        )
    with pytest.raises(ModerationError, match="day"):
        moderate_papers(
            paper_ids=["2512.13689"], action=PaperAction.FEATURE, actor=admin_user, reason="x"
        )
    assert not Paper.objects.filter(hidden=True).exists()
    assert not AuditLog.objects.exists()


def test_a_paper_cannot_be_pinned_to_a_day_that_has_not_come(admin_user):
    replay(paths=[ARXIV_PAGES[0]])
    tomorrow = timezone.localdate() + timedelta(days=1)
    with pytest.raises(ModerationError, match="today or earlier"):
        moderate_papers(
            paper_ids=["2512.13689"],
            action=PaperAction.FEATURE,
            actor=admin_user,
            reason="next week's pick",
            day=tomorrow,
        )
    assert Paper.objects.get(pk="2512.13689").featured_on is None
    assert not AuditLog.objects.exists()


def test_clearing_a_flag_resolves_the_readers_reports(admin_user):
    replay(paths=[ARXIV_PAGES[0]])
    report_problem(paper_id="2512.13689", reason="The code link is a fork.")
    moderate_papers(
        paper_ids=["2512.13689"], action=PaperAction.CLEAR_FLAG, actor=admin_user, reason="ok"
    )
    assert not Paper.objects.get(pk="2512.13689").flagged
    assert ProblemReport.objects.get().resolved


# --- Code-link corrections ---------------------------------------------------------------


def test_a_correction_wins_records_who_and_why_and_is_logged(admin_user):
    replay(paths=[ARXIV_PAGES[0]])
    paper = Paper.objects.get(pk="2512.13689")
    link = correct_code_link(
        paper=paper,
        url="github.com/prs-eth/LitePT-official/tree/main",
        actor=admin_user,
        reason="the authors moved the code",
    )
    assert link.url == "https://github.com/prs-eth/LitePT-official"
    assert link.source == CodeLink.Source.ADMIN
    assert (link.changed_by, link.change_reason) == (admin_user, "the authors moved the code")
    assert primary_code_link(Paper.objects.get(pk=paper.pk)) == link
    entry = AuditLog.objects.get(action="code-link")
    assert entry.before == {"code_url": "https://github.com/prs-eth/LitePT"}
    assert entry.after == {"code_url": "https://github.com/prs-eth/LitePT-official"}


def test_a_second_correction_replaces_the_first(admin_user):
    replay(paths=[ARXIV_PAGES[0]])
    paper = Paper.objects.get(pk="2512.13689")
    correct_code_link(paper=paper, url="https://github.com/a/LitePT", actor=admin_user, reason="1")
    second = correct_code_link(
        paper=paper, url="https://github.com/prs-eth/LitePT", actor=admin_user, reason="2"
    )
    assert primary_code_link(Paper.objects.get(pk=paper.pk)) == second
    assert list(paper.code_links.filter(source=CodeLink.Source.ADMIN)) == [second]


@pytest.mark.parametrize(
    "url", ["https://github.com/prs-eth", "not a url", "https://example.org/a/b"]
)
def test_a_url_that_names_no_repository_is_refused(admin_user, url):
    replay(paths=[ARXIV_PAGES[0]])
    paper = Paper.objects.get(pk="2512.13689")
    with pytest.raises(ModerationError, match="does not name a repository"):
        correct_code_link(paper=paper, url=url, actor=admin_user, reason="x")
    assert primary_code_link(paper).url == "https://github.com/prs-eth/LitePT"
    assert not AuditLog.objects.exists()


def test_a_correction_survives_reingestion(admin_user):
    replay(paths=[HF_DAILY])
    paper = Paper.objects.get(pk="2606.12730")
    upstream = primary_code_link(paper).url
    corrected = correct_code_link(
        paper=paper,
        url="https://github.com/psychology-of-AI/psychometric-eval",
        actor=admin_user,
        reason="the upstream repo is a stale mirror",
    )
    # The same recorded file again, and once more with the paper's upvotes moved on.
    replay(paths=[HF_DAILY])
    record = hf_record("2606.12730")
    upsert_daily_papers([replace(record, upvotes=record.upvotes + 5)])
    paper = Paper.objects.get(pk="2606.12730")
    assert primary_code_link(paper) == corrected
    assert paper.code_links.get(url=corrected.url).source == CodeLink.Source.ADMIN
    assert paper.code_links.get(url=upstream).source == CodeLink.Source.HF


def test_an_upstream_link_an_editor_confirmed_stays_the_editors(admin_user):
    replay(paths=[HF_DAILY])
    paper = Paper.objects.get(pk="2606.12730")
    url = primary_code_link(paper).url
    correct_code_link(paper=paper, url=url, actor=admin_user, reason="checked: right repo")
    replay(paths=[HF_DAILY])
    link = Paper.objects.get(pk=paper.pk).code_links.get(url=url)
    assert (link.source, link.changed_by) == (CodeLink.Source.ADMIN, admin_user)


# --- Readers' reports --------------------------------------------------------------------


def test_a_report_flags_the_paper_and_is_logged():
    replay(paths=[ARXIV_PAGES[0]])
    report = report_problem(paper_id="2512.13689", reason="  The code link is wrong.  ")
    assert report.reason == "The code link is wrong."
    paper = Paper.objects.get(pk="2512.13689")
    assert paper.flagged
    assert paper.flag_reason == "reader report: The code link is wrong."
    entry = AuditLog.objects.get(action="report")
    assert entry.actor is None and entry.after["flagged"] is True


def test_empty_or_overlong_reports_and_hidden_papers_are_refused(admin_user):
    replay(paths=[ARXIV_PAGES[0]])
    with pytest.raises(ModerationError):
        report_problem(paper_id="2512.13689", reason="   ")
    with pytest.raises(ModerationError):
        report_problem(paper_id="2512.13689", reason="x" * 2001)
    moderate_papers(
        paper_ids=["2512.13690"], action=PaperAction.HIDE, actor=admin_user, reason="spam"
    )
    with pytest.raises(Paper.DoesNotExist):
        report_problem(paper_id="2512.13690", reason="still there?")
    assert not ProblemReport.objects.exists()


# --- Automatic flags on ingestion --------------------------------------------------------


def test_the_recorded_corpus_raises_no_false_alarm():
    replay(paths=[DATA_DIR / "arxiv", DATA_DIR / "huggingface"])
    assert Paper.objects.count() == 430
    assert list(Paper.objects.filter(flagged=True).values_list("pk", "flag_reason")) == []


def test_an_upstream_title_change_is_flagged_with_the_old_title():
    record = arxiv_record("2512.13690")
    store_papers([record])
    newer = replace(
        record, version=2, title="DiffusionBrowser v2", updated=record.updated + timedelta(days=3)
    )
    store_papers([newer])
    paper = Paper.objects.get(pk="2512.13690")
    assert paper.title == "DiffusionBrowser v2"
    assert paper.flagged
    assert f"upstream changed the title from {record.title!r}" in paper.flag_reason
    entry = AuditLog.objects.get(action="auto-flag")
    assert entry.actor is None and entry.target_id == "2512.13690"
    assert entry.before == {"flagged": False, "flag_reason": ""}


def test_a_new_version_with_the_same_title_is_not_flagged():
    record = arxiv_record("2512.13690")
    store_papers([record])
    store_papers([replace(record, version=2, updated=record.updated + timedelta(days=3))])
    assert not Paper.objects.get(pk="2512.13690").flagged


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"title_suffix": " <a href='https://example.org'>win</a>"}, "markup in the title"),
        ({"abstract_suffix": " <script>alert(1)</script>"}, "markup in the abstract"),
        ({"abstract_suffix": " Click here: bit.ly/3xYz"}, "spam-like 'Click here' in the abstract"),
        ({"title_upper": True}, "title in capitals"),
        (
            {"comment": "Code: https://github.com/prs-eth"},
            "code URL 'https://github.com/prs-eth' names no repository (a user page?)",
        ),
        (
            {"comment": "Mirror: https://github.com/someone/LitePT"},
            "one name under several owners (prs-eth/LitePT, someone/LitePT): one may be a fork",
        ),
    ],
)
def test_suspicious_records_are_flagged_on_arrival(change, reason):
    record = arxiv_record("2512.13689")
    record = replace(
        record,
        title=record.title.upper()
        if change.get("title_upper")
        else record.title + change.get("title_suffix", ""),
        abstract=record.abstract + change.get("abstract_suffix", ""),
        comment=change.get("comment", record.comment),
    )
    store_papers([record])
    paper = Paper.objects.get(pk="2512.13689")
    assert paper.flagged
    assert reason in paper.flag_reason.split("; ")


def test_a_hugging_face_code_link_to_a_user_page_is_flagged_not_stored():
    # The recorded SAP/toolsense paper, with its link cut back to the organisation's page.
    records = parse_daily_papers(HF_DAILY.read_bytes()).records
    (record,) = [r for r in records if (r.github_repo or "").startswith("https://github.com/SAP/")]
    upsert_daily_papers([replace(record, github_repo="https://github.com/SAP")])
    upsert_daily_papers([replace(record, github_repo="https://github.com/SAP")])
    paper = Paper.objects.get(pk=record.paper.arxiv_id)
    assert not paper.code_links.filter(source=CodeLink.Source.HF).exists()
    assert paper.flagged
    assert paper.flag_reason == (
        "Hugging Face code URL 'https://github.com/SAP' names no repository (a user page?)"
    )
    assert AuditLog.objects.filter(action="auto-flag", target_id=paper.pk).count() == 1


def test_a_flag_is_not_raised_twice_for_the_same_reason():
    record = arxiv_record("2512.13689")
    store_papers([replace(record, abstract=record.abstract + " <b>bold</b>")])
    later = replace(
        record,
        abstract=record.abstract + " <b>bolder</b>",
        version=2,
        updated=record.updated + timedelta(days=1),
    )
    store_papers([later])
    assert Paper.objects.get(pk="2512.13689").flag_reason == "markup in the abstract"
    assert AuditLog.objects.filter(action="auto-flag").count() == 1
