"""Code status of papers (none / announced / released), its re-check schedule and the digest's
follow-ups, on the recorded responses replayed through the real clients.

No recording holds the same paper twice, nor any answer of GitHub's API: the "before" of a
paper that later gets its code is derived from its recorded Hugging Face item (the same item
without `githubRepo`), Hugging Face's `/api/papers/{id}` answer is the recorded item's `paper`
object (the shape that endpoint returns), and GitHub's answers are built on its documented
shapes (`GET /repos/{owner}/{repo}`: `stargazers_count`, `size` in KB, `default_branch`,
`description`; errors: `{"message", "documentation_url"}`), with the recorded stars.
"""

import json
from dataclasses import replace
from datetime import date, timedelta

import pytest
from django.utils import timezone

from digest.models import AuditLog, CodeLink, DeliveryItem, Paper, Subscriber
from digest.services import delivery
from digest.services.code_status import next_code_check
from digest.services.moderation import AUTOMATIC, ModerationError, correct_code_status
from digest.services.sources.arxiv_feed import parse_api_page
from digest.services.sources.code_checks import check_code, due_papers
from digest.services.sources.fetch import replay
from digest.services.sources.huggingface import parse_daily_papers
from digest.services.sources.ingest import record_stars, store_papers, upsert_daily_papers
from tests.conftest import ARXIV_PAGES, HF_DAILY, embed_and_score

pytestmark = pytest.mark.django_db
Status = Paper.CodeStatus
Section = DeliveryItem.Section
HF_DAY = date(2026, 6, 12)
# The recorded Hugging Face paper with a `githubRepo` and no repository in its abstract.
LATE_CODE = "2606.13681"
NOT_FOUND = b'{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}'
BLOCKED = b'{"message": "Repository access blocked", "block": {"reason": "dmca"}}'


def _repo_json(*, stars: int, size: int = 2048, description: str = "") -> bytes:
    body = {"stargazers_count": stars, "size": size, "default_branch": "main"}
    return json.dumps({**body, "description": description}).encode()


@pytest.fixture
def checking(code_check_upstream):
    return code_check_upstream


def _ingest_hf_day_without(paper_id: str) -> None:
    """The recorded day as Hugging Face first showed it: `paper_id` had no repository yet."""
    records = parse_daily_papers(HF_DAILY.read_bytes()).records
    upsert_daily_papers(
        [replace(r, github_repo=None) if r.paper.arxiv_id == paper_id else r for r in records]
    )


def _due_now(*paper_ids: str) -> None:
    Paper.objects.filter(pk__in=paper_ids).update(code_next_check_at=timezone.now())


# --- The acceptance path: code comes out after a reader got the paper ----------------------


def _sections(delivery_id: int) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in DeliveryItem.objects.filter(delivery_id=delivery_id).order_by("position"):
        found.setdefault(item.section, []).append(item.paper_id)
    return found


def _follower(email: str, interests: str, **fields) -> Subscriber:
    """A reader who gets a digest every day: their interests, then the day's trending."""
    return Subscriber.objects.create(
        email=email,
        status=Subscriber.Status.ACTIVE,
        interests=interests,
        send_when_empty=True,
        trending_count=10,
        **fields,
    )


def _papers_in(delivery_id: int) -> set[str]:
    return set(
        DeliveryItem.objects.filter(delivery_id=delivery_id).values_list("paper_id", flat=True)
    )


def _digest(reader: Subscriber, day: date, smtp_server) -> int:
    (planned,) = delivery.plan(day=day, subscriber_ids=[reader.pk])
    assert delivery.send_chunk(delivery_ids=[planned]).sent == 1
    return planned


def test_code_out_after_the_reader_got_it_comes_once_in_the_next_digest(
    checking, corpus_vectors, smtp_server
):
    replay(paths=[ARXIV_PAGES[0]])
    _ingest_hf_day_without(LATE_CODE)
    embed_and_score(corpus_vectors)
    paper = Paper.objects.get(pk=LATE_CODE)
    assert (paper.code_status, paper.code_released_at) == (Status.NONE, None)
    assert paper.code_next_check_at is not None  # scheduled for a re-check
    reader = _follower("reader@example.org", "memory evolution of LLM agents")
    first = _digest(reader, HF_DAY, smtp_server)
    assert LATE_CODE in _papers_in(first)

    # The re-check: Hugging Face now names the repository (its recorded answer).
    _due_now(LATE_CODE)
    report = check_code()
    paper.refresh_from_db()
    assert report.released == [LATE_CODE]
    assert paper.code_status == Status.RELEASED
    assert paper.code_released_at is not None and paper.code_next_check_at is None
    assert paper.code_links.get().url == "https://github.com/Aiden0526/EvoArena"

    second = _digest(reader, HF_DAY + timedelta(days=1), smtp_server)
    assert _sections(second)[Section.CODE_OUT] == [LATE_CODE]
    text = smtp_server.to(reader.email)[-1].get_body(("plain",)).get_content()
    assert text.count("CODE IS NOW OUT") == 1
    assert "without code: its code is out now" in text
    assert "https://github.com/Aiden0526/EvoArena" in text

    third = _digest(reader, HF_DAY + timedelta(days=2), smtp_server)
    assert Section.CODE_OUT not in _sections(third)
    assert DeliveryItem.objects.filter(paper_id=LATE_CODE, section=Section.CODE_OUT).count() == 1


def test_a_reader_who_turned_code_follow_ups_off_gets_none(checking, corpus_vectors, smtp_server):
    replay(paths=[ARXIV_PAGES[0]])
    _ingest_hf_day_without(LATE_CODE)
    embed_and_score(corpus_vectors)
    reader = _follower("quiet@example.org", "memory evolution of LLM agents", follow_code_out=False)
    _digest(reader, HF_DAY, smtp_server)
    _due_now(LATE_CODE)
    check_code()
    second = _digest(reader, HF_DAY + timedelta(days=1), smtp_server)
    assert Section.CODE_OUT not in _sections(second)


def test_the_same_day_replayed_with_its_repository_releases_the_code(db):
    _ingest_hf_day_without(LATE_CODE)
    assert Paper.objects.get(pk=LATE_CODE).code_status == Status.NONE
    replay(paths=[HF_DAILY])
    assert Paper.objects.get(pk=LATE_CODE).code_status == Status.RELEASED


# --- Taking off --------------------------------------------------------------------------


def test_a_received_paper_whose_stars_grew_sharply_comes_back_once(corpus, smtp_server, settings):
    settings.TAKING_OFF_MIN_STARS, settings.TAKING_OFF_FACTOR = 100, 2.0
    reader = _follower("stars@example.org", "sparse attention for long context")
    first = _digest(reader, HF_DAY, smtp_server)
    received = _papers_in(first)
    # The recorded MSA repository (251 stars when the reader got it) and another one.
    msa = CodeLink.objects.get(url="https://github.com/MiniMax-AI/MSA")
    small = CodeLink.objects.filter(paper_id__in=received).exclude(pk=msa.pk).first()
    assert msa.paper_id in received and small is not None

    later = timezone.now() + timedelta(minutes=1)
    record_stars(msa, 1800, at=later)  # 251 -> 1800: sharp
    record_stars(small, (small.stars or 0) + 20, at=later)  # a few more: not news

    second = _digest(reader, HF_DAY + timedelta(days=1), smtp_server)
    assert _sections(second)[Section.TAKING_OFF] == [msa.paper_id]
    why = DeliveryItem.objects.get(delivery_id=second, section=Section.TAKING_OFF).why
    assert why.startswith("★ 251 → 1800 on GitHub since you got it on")
    third = _digest(reader, HF_DAY + timedelta(days=2), smtp_server)
    assert Section.TAKING_OFF not in _sections(third)


# --- "Announced" and new arXiv versions ----------------------------------------------------


def test_an_abstract_promising_code_makes_the_paper_announced(db):
    replay(paths=ARXIV_PAGES)
    # "Our code and dataset will be made publicly available upon paper acceptance."
    assert Paper.objects.get(pk="2512.13095").code_status == Status.ANNOUNCED
    # "Code and pretrained models will be released at https://github.com/Die-Xie/UniVCD.":
    # the repository is named but said to be still to come.
    assert Paper.objects.get(pk="2512.13089").code_status == Status.ANNOUNCED
    # "Code is available at https://github.com/G-U-N/consolver."
    assert Paper.objects.get(pk="2512.13592").code_status == Status.RELEASED
    assert Paper.objects.get(pk="2512.13684").code_status == Status.NONE


def test_a_new_arxiv_version_naming_its_repository_releases_the_code(db):
    record = next(
        r for r in parse_api_page(ARXIV_PAGES[0].read_bytes()).records if r.arxiv_id == "2512.13592"
    )
    # Derived: the recorded version without its last sentence, "Code is available at ...".
    before = replace(
        record,
        version=record.version - 1 if record.version > 1 else 1,
        abstract=record.abstract.rsplit("Code is available", 1)[0].strip(),
        updated=record.updated - timedelta(days=20),
    )
    store_papers([before])
    assert Paper.objects.get(pk=record.arxiv_id).code_status == Status.NONE
    store_papers([replace(record, version=before.version + 1)])
    paper = Paper.objects.get(pk=record.arxiv_id)
    assert paper.code_status == Status.RELEASED
    assert paper.code_links.get().url == "https://github.com/G-U-N/consolver"


# --- The schedule ------------------------------------------------------------------------


def test_the_re_check_backs_off_with_the_papers_age():
    now = timezone.now()
    assert next_code_check(published=now - timedelta(days=3), now=now) == now + timedelta(days=1)
    assert next_code_check(published=now - timedelta(days=13), now=now) == now + timedelta(days=1)
    assert next_code_check(published=now - timedelta(days=15), now=now) == now + timedelta(weeks=1)
    assert next_code_check(published=now - timedelta(days=180), now=now) == now + timedelta(weeks=1)
    assert next_code_check(published=now - timedelta(days=200), now=now) is None


def test_a_run_takes_the_due_papers_only_and_schedules_each_by_its_age(checking, settings):
    _ingest_hf_day_without(LATE_CODE)
    now = timezone.now()
    young, old, ancient = (
        Paper.objects.exclude(pk=LATE_CODE).filter(code_status=Status.NONE).order_by("pk")[:3]
    )
    Paper.objects.filter(pk=young.pk).update(published=now - timedelta(days=2))
    Paper.objects.filter(pk=old.pk).update(published=now - timedelta(days=40))
    Paper.objects.filter(pk=ancient.pk).update(published=now - timedelta(days=365))
    Paper.objects.update(code_next_check_at=now + timedelta(days=1))  # nothing due...
    _due_now(young.pk, old.pk, ancient.pk)  # ...but these three

    report = check_code(now=now + timedelta(seconds=1))

    assert report.checked == 3
    checked = {p.pk: p for p in Paper.objects.filter(code_checked_at__isnull=False)}
    assert set(checked) == {young.pk, old.pk, ancient.pk}
    assert checked[young.pk].code_next_check_at - now == timedelta(days=1, seconds=1)
    assert checked[old.pk].code_next_check_at - now == timedelta(weeks=1, seconds=1)
    assert checked[ancient.pk].code_next_check_at is None
    # One arXiv lookup for the batch, one Hugging Face request per paper, nothing else.
    assert sum("id_list" in path for path in checking.requests) == 1
    assert sum(path.startswith("/api/papers/") for path in checking.requests) == 3


def test_a_run_takes_at_most_its_batch_oldest_due_first(checking, settings):
    _ingest_hf_day_without(LATE_CODE)
    now = timezone.now()
    papers = list(Paper.objects.order_by("pk")[:4])
    for minutes, paper in enumerate(papers):
        Paper.objects.filter(pk=paper.pk).update(
            code_next_check_at=now - timedelta(minutes=10 - minutes)
        )
    Paper.objects.exclude(pk__in=[p.pk for p in papers]).update(code_next_check_at=None)
    assert check_code(limit=2, now=now).checked == 2
    assert set(Paper.objects.filter(code_checked_at=now).values_list("pk", flat=True)) == {
        papers[0].pk,
        papers[1].pk,
    }


# --- GitHub: content, empty repositories, refusals, the rate limit --------------------------


@pytest.fixture
def github(checking, settings):
    settings.GITHUB_API_URL = checking.url
    settings.GITHUB_TOKEN = "test-token"
    return checking


def _github_links() -> list[CodeLink]:
    return list(CodeLink.objects.filter(host="github.com").order_by("paper_id", "id"))


def test_a_404_and_a_451_are_recorded_and_the_run_goes_on(github, caplog):
    replay(paths=[HF_DAILY])
    links = _github_links()
    missing, blocked, empty, placeholder, *rest = links
    github.routes[f"/repos/{missing.owner}/{missing.name}"] = lambda p: (404, {}, NOT_FOUND)
    github.routes[f"/repos/{blocked.owner}/{blocked.name}"] = lambda p: (451, {}, BLOCKED)
    github.routes[f"/repos/{empty.owner}/{empty.name}"] = lambda p: (
        200,
        {},
        _repo_json(stars=empty.stars or 0, size=0),
    )
    github.routes[f"/repos/{placeholder.owner}/{placeholder.name}"] = lambda p: (
        200,
        {},
        _repo_json(stars=3, size=4, description="Code coming soon"),
    )
    for link in rest:
        github.routes[f"/repos/{link.owner}/{link.name}"] = lambda p, s=link.stars: (
            200,
            {},
            _repo_json(stars=(s or 0) + 1),
        )
    Paper.objects.update(code_next_check_at=timezone.now())

    report = check_code()

    assert report.checked == 30
    assert sorted(report.refused) == sorted([missing.url, blocked.url])
    states = dict(CodeLink.objects.values_list("pk", "repo_state"))
    assert states[missing.pk] == CodeLink.RepoState.MISSING
    assert states[blocked.pk] == CodeLink.RepoState.BLOCKED
    assert states[empty.pk] == CodeLink.RepoState.EMPTY
    assert states[placeholder.pk] == CodeLink.RepoState.PLACEHOLDER
    assert all(states[link.pk] == CodeLink.RepoState.CONTENT for link in rest)
    assert CodeLink.objects.get(pk=blocked.pk).repo_problem == "HTTP 451: Repository access blocked"
    assert CodeLink.objects.get(pk=missing.pk).repo_problem == "HTTP 404: Not Found"
    # Papers whose only repository is not out yet are announced; the others released.
    for link in (missing, empty, placeholder):
        assert Paper.objects.get(pk=link.paper_id).code_status == Status.ANNOUNCED
    assert {Paper.objects.get(pk=link.paper_id).code_status for link in rest} == {Status.RELEASED}
    assert any(
        "HTTP 451" in r.getMessage() and blocked.name in r.getMessage() for r in caplog.records
    )


def test_a_spent_rate_limit_ends_githubs_part_and_leaves_the_rest_due(github):
    replay(paths=[HF_DAILY])
    links = _github_links()
    served = []

    def answer(link):
        def route(params):
            if len(served) >= 2:
                reset = str(int(timezone.now().timestamp()) + 600)
                return 403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}, b"{}"
            served.append(link.pk)
            return 200, {}, _repo_json(stars=link.stars or 0)

        return route

    for link in links:
        github.routes[f"/repos/{link.owner}/{link.name}"] = answer(link)
    Paper.objects.update(code_next_check_at=timezone.now())

    report = check_code()

    assert report.rate_limited_until is not None
    assert len(served) == 2
    unreached = {link.paper_id for link in links if link.pk not in served}
    still_due = Paper.objects.filter(code_next_check_at__lte=timezone.now())
    assert unreached <= set(still_due.values_list("pk", flat=True))
    assert report.checked == 30 - len(unreached)


# --- Editors -----------------------------------------------------------------------------


def test_an_editor_sets_the_status_audited_and_checks_leave_it(checking, django_user_model):
    editor = django_user_model.objects.create_user("editor", password="x", is_staff=True)
    _ingest_hf_day_without(LATE_CODE)
    with pytest.raises(ModerationError, match="Say why"):
        correct_code_status(paper_id=LATE_CODE, status=Status.ANNOUNCED, actor=editor, reason=" ")
    with pytest.raises(ModerationError, match="must be one of"):
        correct_code_status(paper_id=LATE_CODE, status="soon", actor=editor, reason="typo")

    correct_code_status(
        paper_id=LATE_CODE, status=Status.ANNOUNCED, actor=editor, reason="README says soon"
    )
    entry = AuditLog.objects.get(action="code-status")
    assert (entry.actor, entry.target_id, entry.reason) == (editor, LATE_CODE, "README says soon")
    assert entry.before["code_status"] == Status.NONE
    assert entry.after == {
        "code_status": Status.ANNOUNCED,
        "code_status_by_editor": True,
        "code_released_at": None,
    }
    # Hugging Face naming the repository does not override the editor.
    replay(paths=[HF_DAILY])
    assert Paper.objects.get(pk=LATE_CODE).code_status == Status.ANNOUNCED
    assert LATE_CODE not in {p.pk for p in due_papers(now=timezone.now(), limit=100)}

    correct_code_status(paper_id=LATE_CODE, status=AUTOMATIC, actor=editor, reason="checked")
    paper = Paper.objects.get(pk=LATE_CODE)
    assert (paper.code_status, paper.code_status_by_editor) == (Status.RELEASED, False)
    assert AuditLog.objects.filter(action="code-status").count() == 2


def test_one_paper_hugging_face_refuses_costs_only_that_paper(checking):
    _ingest_hf_day_without(LATE_CODE)
    refused = "2606.13392"  # any other recorded paper
    _due_now(refused, LATE_CODE)
    checking.routes[f"/api/papers/{refused}"] = lambda params: (
        503,
        {"Retry-After": "0"},
        b"Service Unavailable",
    )
    report = check_code()
    assert report.checked == 2
    assert any("huggingface: HTTP 503" in problem for problem in report.problems)
    assert Paper.objects.get(pk=LATE_CODE).code_status == Status.RELEASED


def test_hugging_faces_rate_limit_ends_its_part_of_the_run(checking):
    _ingest_hf_day_without(LATE_CODE)
    first = "2606.06113"  # due before LATE_CODE
    Paper.objects.filter(pk=first).update(code_next_check_at=timezone.now() - timedelta(hours=1))
    _due_now(LATE_CODE)
    checking.routes[f"/api/papers/{first}"] = lambda params: (429, {"Retry-After": "0"}, b"")
    report = check_code()
    assert any("HTTP 429" in problem for problem in report.problems)
    assert f"/api/papers/{LATE_CODE}" not in checking.requests
    assert report.checked == 0  # both stay due for the next run
    paper = Paper.objects.get(pk=LATE_CODE)
    assert (paper.code_status, paper.code_checked_at) == (Status.NONE, None)
