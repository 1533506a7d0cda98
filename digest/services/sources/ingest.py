"""Upsert parsed records into the database, and keep the ingestion-run log.

Idempotent by construction: a record only changes a paper when it is newer (version, updated)
or when it brings arXiv metadata to a paper we only knew from Hugging Face, and even then
only if a stored field differs. Replaying the same input twice therefore changes nothing.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from digest.codelinks import extract_code_urls, project_page_url
from digest.models import (
    Category,
    CodeLink,
    IngestionRun,
    Paper,
    PaperEmbedding,
    StarSnapshot,
    TrendingSignal,
)
from digest.services.code_status import update_code_status
from digest.services.moderation import flag_unusable_code_link, review_incoming
from digest.services.sources.records import HFRecord, PaperRecord, SourceError
from digest.text import decode_prose, plain_text

# Paper fields a record sets, and how to read each from a record.
_PAPER_FIELDS = [f.name for f in fields(PaperRecord) if f.name not in {"arxiv_id", "categories"}]
# Upstream LaTeX we decode once, here; `Paper.upstream` keeps these fields as they came.
_DECODED_FIELDS = ("title", "abstract", "comment")
# What a paper's vector is computed from (embedder.paper_text).
_EMBEDDED_FIELDS = ("title", "abstract")


class Outcome(str):
    NEW, UPDATED, UNCHANGED = "new", "updated", "unchanged"


@dataclass
class Counts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    @classmethod
    def of(cls, outcomes: Iterable[str]) -> "Counts":
        counts = cls()
        for outcome in outcomes:
            setattr(counts, outcome, getattr(counts, outcome) + 1)
        return counts

    def __str__(self) -> str:
        return f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged"


@contextmanager
def recorded_run(*, source: str, origin: str) -> Iterator[IngestionRun]:
    """Log a run: failed with its error if the body raises, else ok (or partial if the body
    set `run.error`). Papers stored before a failure stay stored."""
    run = IngestionRun.objects.create(source=source, origin=origin)
    try:
        yield run
    except Exception as exc:
        run.status = IngestionRun.Status.FAILED
        run.error = str(exc) if isinstance(exc, SourceError) else f"{type(exc).__name__}: {exc}"
        raise
    else:
        run.status = IngestionRun.Status.PARTIAL if run.error else IngestionRun.Status.OK
    finally:
        run.finished_at = timezone.now()
        run.save()


def add_counts(run: IngestionRun, counts: Counts) -> None:
    run.new += counts.new
    run.updated += counts.updated
    run.unchanged += counts.unchanged


def _record_values(record: PaperRecord) -> dict:
    """A paper's fields from a record: LaTeX accents and escapes decoded (math kept for the
    pages to typeset), the upstream text beside them."""
    values = {name: getattr(record, name) for name in _PAPER_FIELDS}
    values["upstream"] = {name: values[name] for name in _DECODED_FIELDS if values[name]}
    values["upstream"]["authors"] = list(record.authors)
    values.update({name: decode_prose(values[name]) for name in _DECODED_FIELDS})
    values["authors"] = [plain_text(author) for author in record.authors]
    return values


def _supersedes(record: PaperRecord, paper: Paper) -> bool:
    if record.metadata_source == Paper.MetadataSource.HF:
        return paper.metadata_source == Paper.MetadataSource.HF
    if paper.metadata_source == Paper.MetadataSource.HF:
        return True
    return (record.version, record.updated) >= (paper.version, paper.updated)


def _apply(paper: Paper, values: dict) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(paper, name) != value:
            setattr(paper, name, value)
            changed = True
    return changed


def _embedded_text(paper: Paper) -> tuple[str, ...]:
    return tuple(getattr(paper, name) for name in _EMBEDDED_FIELDS)


def _newest_per_id(records: Iterable[PaperRecord]) -> dict[str, PaperRecord]:
    newest: dict[str, PaperRecord] = {}
    for record in records:
        known = newest.get(record.arxiv_id)
        if known is None or (record.version, record.updated) > (known.version, known.updated):
            newest[record.arxiv_id] = record
    return newest


def _set_categories(papers: list[Paper], records: dict[str, PaperRecord]) -> None:
    terms = {term for paper in papers for term in records[paper.arxiv_id].categories}
    Category.objects.bulk_create([Category(term=t) for t in terms], ignore_conflicts=True)
    through = Paper.categories.through
    through.objects.filter(paper__in=papers).delete()
    through.objects.bulk_create(
        through(paper_id=paper.arxiv_id, category_id=term)
        for paper in papers
        for term in records[paper.arxiv_id].categories
    )


def _better_source(new: str, old: str) -> bool:
    return CodeLink.PRIORITY[new] < CodeLink.PRIORITY[old]


def link_code(*, paper: Paper, url: str, source: str) -> CodeLink | None:
    """Attach a repository to a paper, or raise an existing link to a better source."""
    repo = CodeLink.repo_for(url)
    if repo is None:
        return None
    values = {"url": repo.url, "host": repo.host, "owner": repo.owner, "name": repo.name}
    link, created = CodeLink.objects.get_or_create(
        paper=paper, url__iexact=repo.url, defaults={**values, "source": source}
    )
    if not created and _better_source(source, link.source):
        # The better source's spelling too (Hugging Face keeps GitHub's, text often does not).
        for name, value in {**values, "source": source}.items():
            setattr(link, name, value)
        link.save(update_fields=[*values, "source"])
    return link


def _link_code_in_text(papers: list[Paper]) -> None:
    """Repositories and a project page named in the texts (Hugging Face's page wins)."""
    for paper in papers:
        page = project_page_url(f"{paper.abstract} {paper.comment}")
        if page and not paper.project_url:
            Paper.objects.filter(pk=paper.pk, project_url="").update(project_url=page)
        for source, text in (
            (CodeLink.Source.ABSTRACT, paper.abstract),
            (CodeLink.Source.COMMENT, paper.comment),
        ):
            for url in extract_code_urls(text):
                link_code(paper=paper, url=url, source=source)


def papers_lacking_arxiv_metadata(*, seen_since: datetime, limit: int) -> list[str]:
    """Papers we know only from Hugging Face (no categories, no comment), newest first."""
    papers = Paper.objects.filter(
        metadata_source=Paper.MetadataSource.HF, first_seen_at__gte=seen_since
    )
    return list(papers.order_by("-first_seen_at", "pk").values_list("pk", flat=True)[:limit])


@transaction.atomic
def store_papers(records: Iterable[PaperRecord]) -> dict[str, str]:
    """Store a batch of paper records; returns the outcome for each distinct paper."""
    newest = _newest_per_id(records)
    existing = Paper.objects.in_bulk(list(newest))
    before = {pk: _embedded_text(paper) for pk, paper in existing.items()}
    now = timezone.now()
    outcomes, created, changed, reworded = {}, [], [], []
    for arxiv_id, record in newest.items():
        paper = existing.get(arxiv_id)
        if paper is None:
            created.append(Paper(arxiv_id=arxiv_id, **_record_values(record)))
            outcomes[arxiv_id] = Outcome.NEW
        elif _supersedes(record, paper) and _apply(paper, _record_values(record)):
            if _embedded_text(paper) != before[arxiv_id]:
                reworded.append(arxiv_id)
            paper.changed_at = now  # bulk_update does not apply auto_now
            changed.append(paper)
            outcomes[arxiv_id] = Outcome.UPDATED
        else:
            outcomes[arxiv_id] = Outcome.UNCHANGED
    # Before the writes: moderation compares the stored titles of `changed` with the new ones.
    review_incoming(new=created, changed=changed)
    Paper.objects.bulk_create(created)
    if changed:
        Paper.objects.bulk_update(changed, [*_PAPER_FIELDS, "upstream", "changed_at"])
    # A vector of the old text would rank and find the paper by what it no longer says: it
    # goes in the same transaction as the text, and the next embed run computes the new one.
    PaperEmbedding.objects.filter(paper_id__in=reworded).delete()
    _set_categories(created + changed, newest)
    _link_code_in_text(created + changed)
    # A new version naming its repository, or now promising code, moves the status here.
    update_code_status(papers=created + changed, now=now)
    return outcomes


def record_stars(link: CodeLink, stars: int, *, at) -> bool:
    """Store a star reading; a snapshot is kept only when the count moved."""
    if link.stars == stars:
        return False
    link.stars, link.stars_checked_at = stars, at
    link.save(update_fields=["stars", "stars_checked_at"])
    StarSnapshot.objects.create(code_link=link, stars=stars, taken_at=at)
    return True


def _upsert_signal(record: HFRecord) -> bool:
    values = {"upvotes": record.upvotes, "num_comments": record.num_comments}
    signal, created = TrendingSignal.objects.get_or_create(
        paper_id=record.paper.arxiv_id,
        source=TrendingSignal.Source.HF,
        featured_on=record.featured_on,
        defaults=values,
    )
    if created:
        return True
    if _apply(signal, values):
        signal.save()
        return True
    return False


def _store_hf_extras(record: HFRecord, paper: Paper, *, now) -> bool:
    """The day's signal and the GitHub repository with its stars; True if anything moved."""
    moved = _upsert_signal(record)
    summary = decode_prose(record.ai_summary)
    if summary and summary != paper.ai_summary:
        paper.ai_summary = summary
        paper.save(update_fields=["ai_summary", "changed_at"])
        moved = True
    if record.project_page and record.project_page != paper.project_url:
        paper.project_url = record.project_page
        paper.save(update_fields=["project_url", "changed_at"])
        moved = True
    if record.github_repo:
        link = link_code(paper=paper, url=record.github_repo, source=CodeLink.Source.HF)
        if link is None:
            flag_unusable_code_link(paper=paper, url=record.github_repo, source="Hugging Face")
        elif record.github_stars is not None:
            moved = record_stars(link, record.github_stars, at=now) or moved
    return moved


@transaction.atomic
def upsert_daily_papers(records: list[HFRecord]) -> Counts:
    """Papers as Hugging Face knows them (kept if arXiv already gave us better metadata),
    their upvotes and comments of the day, and their GitHub repository with its stars."""
    outcomes = store_papers(record.paper for record in records)
    papers = Paper.objects.in_bulk(list(outcomes))
    now = timezone.now()
    for record in records:
        arxiv_id = record.paper.arxiv_id
        moved = _store_hf_extras(record, papers[arxiv_id], now=now)
        if moved and outcomes[arxiv_id] == Outcome.UNCHANGED:
            outcomes[arxiv_id] = Outcome.UPDATED
    # Hugging Face's `githubRepo` may be the first link a paper gets.
    update_code_status(papers=list(papers.values()), now=now)
    return Counts.of(outcomes.values())
