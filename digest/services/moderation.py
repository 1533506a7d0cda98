"""Moderation of papers: what editors do (hide, feature, flag, correct a code link), what
readers report, and what ingestion flags on its own.

Every change is written to the audit log (`actor` None means the system did it), and every
change to what the public sees marks cached lists stale once it is committed. Ingestion calls
`review_incoming` with each batch it stores; nothing here imports the heavy ranking stack, so
ingestion stays light.
"""

import re
from collections import defaultdict
from datetime import date
from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser
from django.db import models, transaction
from django.utils import timezone

# The candidate pattern link extraction itself uses, so "a code URL we could not use" means
# exactly the mentions that `extract_code_urls` had to drop.
from digest.codelinks import RepoRef, extract_code_urls, forge_mentions, parse_repo_url
from digest.models import AuditLog, CodeLink, Paper, ProblemReport
from digest.services.code_status import apply_status, next_code_check, update_code_status
from digest.services.content_version import content_changed
from digest.services.papers import primary_code_link, visible_papers

Actor = AbstractBaseUser | None
# The editor's choice that hands a paper's code status back to the automatic checks.
AUTOMATIC = "auto"
REPORT_MAX_LENGTH = 2000
FLAG_SEPARATOR = "; "


class PaperAction(StrEnum):
    HIDE = "hide"
    UNHIDE = "unhide"
    FEATURE = "feature"
    UNFEATURE = "unfeature"
    FLAG = "flag"
    CLEAR_FLAG = "clear-flag"


class ModerationError(ValueError):
    """Input an editor or reader must correct; the message says how."""


# --- The audit log -----------------------------------------------------------------------


def _plain(value: object) -> object:
    # Audit rows are JSON: dates go in as ISO strings.
    return value.isoformat() if isinstance(value, date) else value


def audit_entry(
    *, actor: Actor, action: str, target: models.Model, before: dict, after: dict, reason: str
) -> AuditLog:
    """An unsaved audit row; callers save it in the transaction that made the change."""
    return AuditLog(
        actor=actor,
        action=action,
        target_type=target._meta.model_name,
        target_id=str(target.pk),
        before={name: _plain(value) for name, value in before.items()},
        after={name: _plain(value) for name, value in after.items()},
        reason=reason,
    )


# --- Editors' actions on papers ----------------------------------------------------------


def check_pin_day(day: date | None) -> date:
    """The day a paper may be pinned to: given, and today or earlier (a pin to a day still
    to come would make that day the newest one, on the home page and in the API)."""
    if day is None:
        raise ModerationError("Featuring pins a paper to the top of a day: give the day.")
    if day > timezone.localdate():
        raise ModerationError(f"Pin to today or earlier, not {day.isoformat()}.")
    return day


def _values(action: PaperAction, *, reason: str, day: date | None) -> dict:
    if action == PaperAction.FEATURE:
        check_pin_day(day)
    return {
        PaperAction.HIDE: {"hidden": True},
        PaperAction.UNHIDE: {"hidden": False},
        PaperAction.FEATURE: {"featured_on": day},
        PaperAction.UNFEATURE: {"featured_on": None},
        PaperAction.FLAG: {"flagged": True, "flag_reason": reason},
        PaperAction.CLEAR_FLAG: {"flagged": False, "flag_reason": ""},
    }[action]


def moderate_papers(
    *,
    paper_ids: list[str],
    action: PaperAction,
    actor: Actor,
    reason: str,
    day: date | None = None,
) -> int:
    """Apply one editor action to papers; returns how many actually changed. A hidden paper
    is never shown, searched, fed or mailed again (every reader starts from visible_papers);
    clearing a flag also resolves the readers' reports on the paper."""
    if not reason.strip():
        raise ModerationError("Say why: the reason goes into the audit log.")
    values = _values(action, reason=reason, day=day)
    with transaction.atomic():
        papers = Paper.objects.select_for_update().filter(pk__in=paper_ids).only("pk", *values)
        changed = [p for p in papers if any(getattr(p, f) != v for f, v in values.items())]
        Paper.objects.filter(pk__in=[paper.pk for paper in changed]).update(**values)
        if action == PaperAction.CLEAR_FLAG:
            ProblemReport.objects.filter(paper_id__in=paper_ids, resolved=False).update(
                resolved=True
            )
        AuditLog.objects.bulk_create(
            audit_entry(
                actor=actor,
                action=action,
                target=paper,
                before={name: getattr(paper, name) for name in values},
                after=values,
                reason=reason,
            )
            for paper in changed
        )
        transaction.on_commit(content_changed)
    return len(changed)


def repository(url: str) -> RepoRef:
    """The repository an editor's URL names, or a ModerationError saying what is accepted."""
    repo = CodeLink.repo_for(url)
    if repo is None:
        raise ModerationError(
            f"{url!r} does not name a repository: give https://<host>/<owner>/<name> on "
            "GitHub, GitLab, Bitbucket, Codeberg or anonymous.4open.science."
        )
    return repo


def correct_code_link(*, paper: Paper, url: str, actor: Actor, reason: str) -> CodeLink:
    """An editor's code link. It wins over every upstream link (CodeLink.PRIORITY), and
    ingestion never replaces it: ingestion only raises a link to a better source than it had,
    and no source beats an editor's."""
    repo = repository(url)
    if not reason.strip():
        raise ModerationError("Say why the code link changes: it goes into the audit log.")
    with transaction.atomic():
        before = primary_code_link(Paper.objects.get(pk=paper.pk))
        # One editor's link per paper: an older correction must not outrank this one.
        paper.code_links.filter(source=CodeLink.Source.ADMIN).exclude(url__iexact=repo.url).delete()
        link, _ = CodeLink.objects.update_or_create(
            paper=paper,
            url__iexact=repo.url,  # one link per repository, whatever the case (see CodeLink)
            defaults={
                "url": repo.url,
                "host": repo.host,
                "owner": repo.owner,
                "name": repo.name,
                "source": CodeLink.Source.ADMIN,
                "changed_by": actor,
                "change_reason": reason,
            },
        )
        audit_entry(
            actor=actor,
            action="code-link",
            target=paper,
            before={"code_url": before.url if before else None},
            after={"code_url": link.url},
            reason=reason,
        ).save()
        update_code_status(papers=[Paper.objects.get(pk=paper.pk)])
        transaction.on_commit(content_changed)
    return link


def _code_status_fields(paper: Paper) -> dict:
    released = paper.code_released_at.isoformat() if paper.code_released_at else None
    return {
        "code_status": paper.code_status,
        "code_status_by_editor": paper.code_status_by_editor,
        "code_released_at": released,
    }


def correct_code_status(*, paper_id: str, status: str, actor: Actor, reason: str) -> Paper:
    """An editor's code status: kept against every automatic check (which stop looking at the
    paper) until the editor hands it back with AUTOMATIC. Setting "released" dates the code's
    release now, so readers who got the paper without code hear of it."""
    if status != AUTOMATIC and status not in Paper.CodeStatus.values:
        choices = ", ".join([*Paper.CodeStatus.values, AUTOMATIC])
        raise ModerationError(f"Code status must be one of {choices}, not {status!r}.")
    if not reason.strip():
        raise ModerationError("Say why the code status changes: it goes into the audit log.")
    now = timezone.now()
    with transaction.atomic():
        paper = Paper.objects.select_for_update().get(pk=paper_id)
        before = _code_status_fields(paper)
        if status == AUTOMATIC:
            paper.code_status_by_editor = False
            paper.code_next_check_at = next_code_check(published=paper.published, now=now)
            paper.save()
            update_code_status(papers=[paper], now=now)
        else:
            apply_status(paper, status, now=now)
            paper.code_status_by_editor, paper.code_next_check_at = True, None
            paper.save()
        audit_entry(
            actor=actor,
            action="code-status",
            target=paper,
            before=before,
            after=_code_status_fields(paper),
            reason=reason,
        ).save()
        transaction.on_commit(content_changed)
    return paper


# --- Flags: readers' reports and what ingestion notices ----------------------------------


def _flag_entry(paper: Paper, reasons: list[str], *, actor: Actor, action: str) -> AuditLog | None:
    """Raise `paper`'s flag in memory, adding the reasons it does not have yet; returns the
    audit row, or None when the paper was already flagged for all of them."""
    known = paper.flag_reason.split(FLAG_SEPARATOR) if paper.flag_reason else []
    fresh = [reason for reason in reasons if reason not in known]
    if paper.flagged and not fresh:
        return None
    before = {"flagged": paper.flagged, "flag_reason": paper.flag_reason}
    paper.flagged, paper.flag_reason = True, FLAG_SEPARATOR.join(known + fresh)
    after = {"flagged": True, "flag_reason": paper.flag_reason}
    return audit_entry(
        actor=actor, action=action, target=paper, before=before, after=after, reason=""
    )


def report_problem(*, paper_id: str, reason: str) -> ProblemReport:
    """A reader's "report a problem": kept, and the paper goes into the moderation queue.
    Raises Paper.DoesNotExist for a paper that is not (or no longer) shown."""
    reason = reason.strip()
    if not reason:
        raise ModerationError("Say what is wrong with this paper's entry.")
    if len(reason) > REPORT_MAX_LENGTH:
        raise ModerationError(f"Please keep it under {REPORT_MAX_LENGTH} characters.")
    with transaction.atomic():
        paper = visible_papers().select_for_update().get(pk=paper_id)
        report = ProblemReport.objects.create(paper=paper, reason=reason)
        summary = " ".join(reason.split())[:80]
        entry = _flag_entry(paper, [f"reader report: {summary}"], actor=None, action="report")
        if entry is not None:
            paper.save(update_fields=["flagged", "flag_reason"])
            entry.save()
    return report


# Titles and abstracts arrive as plain text or LaTeX: an HTML tag in them is an injection.
_MARKUP = re.compile(
    r"</?(?:a|b|i|u|p|br|em|strong|span|div|font|img|svg|iframe|object|embed|script|style"
    r"|link|meta|form|input|table)\b[^<>]*>",
    re.IGNORECASE,
)
_SPAM = re.compile(
    r"\b(?:viagra|cialis|casino|porn|escort|payday loans?|buy now|order now|click here"
    r"|limited offer|free download|earn money)\b|\b(?:bit\.ly|tinyurl\.com|goo\.gl|t\.me)/"
    r"|!{3,}",
    re.IGNORECASE,
)
# A title with at least this many letters and no lower-case one is shouting.
SHOUTING_LETTERS = 12


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def _code_url_problems(text: str, known_code_urls: list[str]) -> list[str]:
    problems = [
        f"code URL {mention!r} names no repository (a user page?)"
        for mention in forge_mentions(text)
        if parse_repo_url(mention) is None
    ]
    # Forks keep the name: one name under two owners means one of them is probably a copy.
    by_name: dict[tuple[str, str], set[str]] = defaultdict(set)
    for url in [*extract_code_urls(text), *known_code_urls]:
        repo = parse_repo_url(url)
        by_name[(repo.host, repo.name.lower())].add(f"{repo.owner}/{repo.name}")
    problems += [
        f"one name under several owners ({', '.join(sorted(repos))}): one may be a fork"
        for repos in by_name.values()
        if len({repo.rsplit("/", 1)[0].lower() for repo in repos}) > 1
    ]
    return problems


def suspicions(
    *, title: str, abstract: str, comment: str, old_title: str | None, known_code_urls: list[str]
) -> list[str]:
    """Why a paper needs an editor's look, each reason in words for the moderation queue;
    empty when nothing looks wrong."""
    reasons = []
    for part, text in (("title", title), ("abstract", abstract)):
        if _MARKUP.search(text):
            reasons.append(f"markup in the {part}")
        if spam := _SPAM.search(text):
            reasons.append(f"spam-like {spam.group(0)!r} in the {part}")
    letters = [char for char in title if char.isalpha()]
    if len(letters) >= SHOUTING_LETTERS and not any(char.islower() for char in letters):
        reasons.append("title in capitals")
    if old_title is not None and _normal(old_title) != _normal(title):
        reasons.append(f"upstream changed the title from {old_title!r}")
    return reasons + _code_url_problems(f"{abstract}\n{comment}", known_code_urls)


def _upstream_code_urls(papers: list[Paper]) -> dict[str, list[str]]:
    """Stored code links per paper, except where an editor set one: that code is decided."""
    links = CodeLink.objects.filter(paper__in=papers).values_list("paper_id", "url", "source")
    decided = {paper_id for paper_id, _, source in links if source == CodeLink.Source.ADMIN}
    urls = defaultdict(list)
    for paper_id, url, _ in links:
        if paper_id not in decided:
            urls[paper_id].append(url)
    return urls


def flag_unusable_code_link(*, paper: Paper, url: str, source: str) -> None:
    """An upstream named code for `paper` at a URL that is no repository (a user or
    organisation page, a search): ingestion drops the link, an editor finds the repository."""
    reason = f"{source} code URL {url!r} names no repository (a user page?)"
    entry = _flag_entry(paper, [reason], actor=None, action="auto-flag")
    if entry is None:
        return
    Paper.objects.filter(pk=paper.pk).update(flagged=True, flag_reason=paper.flag_reason)
    entry.save()
    transaction.on_commit(content_changed)


def review_incoming(*, new: list[Paper], changed: list[Paper]) -> None:
    """Ingestion's hook, called with a batch of papers before it writes them, so that the
    database still holds the old titles of `changed`. Flags what needs an editor's look: new
    papers carry their flag into ingestion's insert; updated ones get an update of their own,
    since ingestion writes only upstream fields. Cached lists go stale once committed."""
    if not (new or changed):
        return
    old_titles = dict(
        Paper.objects.filter(pk__in=[paper.pk for paper in changed]).values_list("pk", "title")
    )
    known = _upstream_code_urls(changed)
    entries = []
    for paper in [*new, *changed]:
        reasons = suspicions(
            title=paper.title,
            abstract=paper.abstract,
            comment=paper.comment,
            old_title=old_titles.get(paper.pk),
            known_code_urls=known.get(paper.pk, []),
        )
        if reasons and (entry := _flag_entry(paper, reasons, actor=None, action="auto-flag")):
            entries.append(entry)
    flagged = {entry.target_id for entry in entries}
    for paper in changed:
        if paper.pk in flagged:
            Paper.objects.filter(pk=paper.pk).update(flagged=True, flag_reason=paper.flag_reason)
    AuditLog.objects.bulk_create(entries)
    transaction.on_commit(content_changed)
