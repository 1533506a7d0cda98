"""Where each paper's code stands: none, announced (promised, or a repository that is empty, a
placeholder or not visible yet), or released, and when the paper is looked at again.

Ingestion calls `update_code_status` with each batch it stores; the scheduled re-check
(`digest.services.sources.code_checks`) calls it after reading Hugging Face, arXiv and GitHub.
An editor's status (`Paper.code_status_by_editor`) is never overwritten here.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from digest.code_announced import code_announcement
from digest.models import CodeLink, Paper

Status = Paper.CodeStatus
RepoState = CodeLink.RepoState
# Re-checks back off with the paper's age: daily while it is new, then weekly, then never
# (code that has not come in six months rarely comes, and each check costs requests).
DAILY_UNTIL = timedelta(days=14)
WEEKLY_UNTIL = timedelta(days=183)
# Sources whose link says the code is out even before a forge was asked: Hugging Face links
# a repository once its authors or readers point to it, an editor's link is checked by them.
TRUSTED_SOURCES = frozenset({CodeLink.Source.HF, CodeLink.Source.ADMIN})
# What the forge said that counts as "not out yet".
NOT_OUT = frozenset({RepoState.EMPTY, RepoState.PLACEHOLDER, RepoState.MISSING})


def next_code_check(*, published: datetime, now: datetime) -> datetime | None:
    """When a paper of this age is looked at again: tomorrow in its first two weeks, in a week
    until it is six months old, then never."""
    age = now - published
    if age < DAILY_UNTIL:
        return now + timedelta(days=1)
    if age < WEEKLY_UNTIL:
        return now + timedelta(weeks=1)
    return None


@dataclass(frozen=True)
class LinkFact:
    source: str
    repo_state: str


def derive_status(*, links: Iterable[LinkFact], announced: bool) -> str:
    """The status that stored links and the paper's text amount to. A repository with content
    (as its forge says) is released; one nobody checked yet counts as released when a trusted
    source named it, or when the text does not say the code is still to come."""
    links = list(links)
    for link in links:
        if link.repo_state == RepoState.CONTENT:
            return Status.RELEASED
        if link.repo_state == RepoState.UNCHECKED and (
            link.source in TRUSTED_SOURCES or not announced
        ):
            return Status.RELEASED
    if announced or any(link.repo_state in NOT_OUT for link in links):
        return Status.ANNOUNCED
    return Status.NONE


def announces_code(paper: Paper) -> bool:
    return code_announcement(f"{paper.abstract}\n{paper.comment}") is not None


def apply_status(paper: Paper, status: str, *, now: datetime) -> bool:
    """Set a paper's status and when its code came out; True if it changed. Released papers
    are not looked at again (their stars are refreshed with every GitHub link's)."""
    if status == paper.code_status:
        return False
    if status == Status.RELEASED:
        paper.code_released_at = now
        paper.code_next_check_at = None
    else:
        paper.code_released_at = None
    paper.code_status = status
    return True


def _link_facts(paper_ids: list[str]) -> dict[str, list[LinkFact]]:
    facts: dict[str, list[LinkFact]] = defaultdict(list)
    rows = CodeLink.objects.filter(paper_id__in=paper_ids).values_list(
        "paper_id", "source", "repo_state"
    )
    for paper_id, source, state in rows:
        facts[paper_id].append(LinkFact(source=source, repo_state=state))
    return facts


def update_code_status(*, papers: list[Paper], now: datetime | None = None) -> list[Paper]:
    """Recompute the status of these papers from their stored links and text, and schedule
    the first re-check of those never scheduled; returns the papers whose status moved to
    released. One query to read, one to write."""
    now = now or timezone.now()
    papers = [paper for paper in papers if not paper.code_status_by_editor]
    facts = _link_facts([paper.pk for paper in papers])
    released, changed = [], []
    for paper in papers:
        status = derive_status(links=facts[paper.pk], announced=announces_code(paper))
        moved = apply_status(paper, status, now=now)
        if moved and status == Status.RELEASED:
            released.append(paper)
        never_scheduled = paper.code_checked_at is None and paper.code_next_check_at is None
        if status != Status.RELEASED and never_scheduled:
            paper.code_next_check_at = next_code_check(published=paper.published, now=now)
            moved = True
        if moved:
            changed.append(paper)
    Paper.objects.bulk_update(
        changed, ["code_status", "code_released_at", "code_next_check_at"], batch_size=500
    )
    return released


def with_code_status(papers: QuerySet[Paper], status: str) -> QuerySet[Paper]:
    """The papers of one code status (the "announced, not yet released" filter of the pages
    and the API)."""
    return papers.filter(code_status=status)
