"""The scheduled code re-check: papers whose code is not out yet, looked at again on a
schedule that backs off with their age (digest.services.code_status.next_code_check).

Each run takes a bounded batch of the papers due now, oldest due first, and asks:
- arXiv, for the batch in one lookup: a new version whose abstract or comment now names a
  repository gets its link (and status) through ordinary ingestion;
- Hugging Face, per paper (`/api/papers/{id}`): its `githubRepo` and stars;
- GitHub, per repository, when GITHUB_TOKEN is set: size, default branch, stars, description
  (an empty repository, or a small one whose description says "coming soon", is not out yet).
A 404 or 451 for a repository is recorded on its link and the run goes on; any other answer
a source refuses costs that paper or repository only. A spent rate limit ends that source's
part of the run, and the papers it did not reach stay due for the next run.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from digest.code_announced import code_announcement
from digest.models import CodeLink, Paper
from digest.services.code_status import next_code_check, update_code_status
from digest.services.sources import clients
from digest.services.sources.fetch import fetch_by_ids
from digest.services.sources.ingest import link_code, record_stars
from digest.services.sources.records import SourceError

log = logging.getLogger(__name__)
RepoState = CodeLink.RepoState
STATE_OF_REFUSAL = {404: RepoState.MISSING, 451: RepoState.BLOCKED}


@dataclass
class CodeCheckReport:
    checked: int = 0
    released: list[str] = field(default_factory=list)  # papers whose code came out
    refused: list[str] = field(default_factory=list)  # repositories answered 404 / 451
    problems: list[str] = field(default_factory=list)  # one line per other failure
    rate_limited_until: datetime | None = None

    def __str__(self) -> str:
        return (
            f"{self.checked} checked, {len(self.released)} released, "
            f"{len(self.refused)} refused, {len(self.problems)} problems"
        )


def _session() -> requests.Session:
    return clients.http_session(
        user_agent=settings.HTTP_USER_AGENT, max_retry_after=settings.HTTP_MAX_RETRY_AFTER_SECONDS
    )


def repo_state(reading: clients.RepoReading) -> str:
    """What a GitHub reading says of the repository's code."""
    if reading.refused:
        return STATE_OF_REFUSAL[reading.refused]
    if reading.size_kb == 0 or not reading.default_branch:
        return RepoState.EMPTY
    small = reading.size_kb is not None and reading.size_kb <= settings.CODE_PLACEHOLDER_MAX_KB
    if small and code_announcement(reading.description):
        return RepoState.PLACEHOLDER
    return RepoState.CONTENT


def record_repo_reading(link: CodeLink, reading: clients.RepoReading, *, at: datetime) -> bool:
    """Store what GitHub said of a link's repository; True if its state changed."""
    state = repo_state(reading)
    moved = state != link.repo_state
    link.repo_state, link.repo_problem, link.repo_checked_at = state, reading.problem, at
    if not reading.refused:
        link.repo_size_kb, link.default_branch = reading.size_kb, reading.default_branch
    link.save(
        update_fields=[
            "repo_state",
            "repo_problem",
            "repo_checked_at",
            "repo_size_kb",
            "default_branch",
        ]
    )
    if reading.stars is not None:
        record_stars(link, reading.stars, at=at)
    return moved


def read_repo(session: requests.Session, link: CodeLink) -> clients.RepoReading:
    return clients.fetch_repo(
        session=session,
        api_url=settings.GITHUB_API_URL,
        owner=link.owner,
        name=link.name,
        token=settings.GITHUB_TOKEN,
        timeout=settings.HTTP_TIMEOUT_SECONDS,
    )


def _hf_repo(content: bytes) -> tuple[str | None, int | None]:
    """`githubRepo` and `githubStars` of a Hugging Face paper page (the `paper` object of a
    Daily Papers item); (None, None) when it has none or is not a paper object."""
    try:
        paper = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, None
    if not isinstance(paper, dict):
        return None, None
    repo, stars = paper.get("githubRepo"), paper.get("githubStars")
    return (
        repo if isinstance(repo, str) and repo else None,
        stars if isinstance(stars, int) and stars >= 0 else None,
    )


def _ask_arxiv(papers: list[Paper], report: CodeCheckReport) -> None:
    try:
        fetch_by_ids(arxiv_ids=[paper.pk for paper in papers])
    except SourceError as exc:
        report.problems.append(str(exc))


def _ask_huggingface(
    session: requests.Session, papers: list[Paper], report: CodeCheckReport, *, now: datetime
) -> set[str]:
    """Read the Hugging Face page of each paper; returns the papers not reached because
    Hugging Face still answered 429 after the session's retries."""
    for position, paper in enumerate(papers):
        try:
            content = clients.fetch_hf_paper(
                session=session,
                api_url=settings.HF_API_URL,
                arxiv_id=paper.pk,
                timeout=settings.HTTP_TIMEOUT_SECONDS,
            )
        except SourceError as exc:
            report.problems.append(str(exc))
            if "HTTP 429" in exc.problem:  # retried already (http_session): wait for next run
                return {later.pk for later in papers[position:]}
            continue
        repo, stars = _hf_repo(content) if content else (None, None)
        if repo is None:
            continue
        with transaction.atomic():
            link = link_code(paper=paper, url=repo, source=CodeLink.Source.HF)
            if link is not None and stars is not None:
                record_stars(link, stars, at=now)
    return set()


def _ask_github(
    session: requests.Session, papers: list[Paper], report: CodeCheckReport, *, now: datetime
) -> set[str]:
    """Read the GitHub repositories of these papers; returns the papers not reached because
    the rate limit ran out."""
    links = list(
        CodeLink.objects.filter(paper__in=papers, host="github.com").order_by("paper_id", "id")
    )
    for position, link in enumerate(links):
        try:
            reading = read_repo(session, link)
        except SourceError as exc:
            log.warning("code check of %s failed: %s", link.url, exc)
            report.problems.append(str(exc))
            continue
        if reading.rate_limited_until:
            report.rate_limited_until = reading.rate_limited_until
            return {later.paper_id for later in links[position:]}
        if reading.refused:
            log.warning("code check of %s: %s", link.url, reading.problem)
            report.refused.append(link.url)
        record_repo_reading(link, reading, at=now)
    return set()


def due_papers(*, now: datetime, limit: int) -> list[Paper]:
    """The papers whose re-check is due, oldest due first (read through its index)."""
    due = Paper.objects.filter(code_next_check_at__lte=now, code_status_by_editor=False)
    return list(due.order_by("code_next_check_at", "pk")[:limit])


def check_code(*, limit: int | None = None, now: datetime | None = None) -> CodeCheckReport:
    """Re-check the code of up to `limit` due papers (CODE_CHECK_BATCH)."""
    now = now or timezone.now()
    report = CodeCheckReport()
    papers = due_papers(now=now, limit=limit or settings.CODE_CHECK_BATCH)
    if not papers:
        return report
    session = _session()
    _ask_arxiv(papers, report)
    waiting = _ask_huggingface(session, papers, report, now=now)
    if settings.GITHUB_TOKEN:
        waiting |= _ask_github(session, papers, report, now=now)
    # Read again: arXiv may have brought a new version's text.
    papers = list(Paper.objects.filter(pk__in=[paper.pk for paper in papers]).order_by("pk"))
    report.released = [paper.pk for paper in update_code_status(papers=papers, now=now)]
    checked = [paper for paper in papers if paper.pk not in waiting]
    for paper in checked:
        paper.code_checked_at = now
        released = paper.code_status == Paper.CodeStatus.RELEASED
        paper.code_next_check_at = (
            None if released else next_code_check(published=paper.published, now=now)
        )
    Paper.objects.bulk_update(checked, ["code_checked_at", "code_next_check_at"])
    report.checked = len(checked)
    return report
