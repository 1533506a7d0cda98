"""Plain records that parsers produce and ingestion services consume. No ORM here."""

from dataclasses import dataclass, field
from datetime import date, datetime


class SourceError(Exception):
    """An upstream answer we cannot use: names the source and the problem in one line."""

    def __init__(self, source: str, problem: str):
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


@dataclass(frozen=True)
class PaperRecord:
    arxiv_id: str
    version: int
    title: str
    abstract: str
    authors: tuple[str, ...]
    primary_category: str
    categories: tuple[str, ...]
    published: datetime
    updated: datetime
    comment: str = ""
    journal_ref: str = ""
    doi: str = ""
    abs_url: str = ""
    pdf_url: str = ""
    metadata_source: str = "arxiv"


@dataclass(frozen=True)
class HFRecord:
    """One Hugging Face Daily Papers item: the paper as HF knows it plus its trending signal."""

    paper: PaperRecord
    featured_on: date
    upvotes: int
    num_comments: int
    github_repo: str | None
    github_stars: int | None


@dataclass
class ParsedPage:
    """What one upstream document held. `problem` is set when the document was damaged:
    `records` then holds only the complete entries that preceded the damage."""

    source: str
    records: list = field(default_factory=list)
    total_results: int | None = None
    problem: str | None = None
