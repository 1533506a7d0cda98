"""Plain records that parsers produce and ingestion services consume. No ORM here."""

from dataclasses import dataclass, field
from datetime import date, datetime

# The longest value a record may carry. The short limits are the model's column widths and
# 32-bit integer range: a longer value would abort the whole batch in PostgreSQL. The long ones
# are far above anything arXiv accepts, so only a damaged or hostile document reaches them.
MAX_LENGTHS = {
    "arxiv_id": 32,
    "primary_category": 32,
    "doi": 255,
    "abs_url": 255,
    "pdf_url": 255,
    "title": 1_000,
    "abstract": 10_000,
    "comment": 2_000,
    "journal_ref": 1_000,
}
MAX_CATEGORY_LENGTH = 32
MAX_AUTHORS = 10_000
MAX_AUTHOR_LENGTH = 1_000
MAX_COUNT = 2**31 - 1


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

    def __post_init__(self) -> None:
        # Refused here, so that every parser skips such an entry naming the field (ValueError
        # is what the parsers catch per entry).
        name = self.arxiv_id[:40]
        for field_name, limit in MAX_LENGTHS.items():
            if len(getattr(self, field_name)) > limit:
                raise ValueError(f"{name}: {field_name} is longer than {limit:,} characters")
        if any(len(term) > MAX_CATEGORY_LENGTH for term in self.categories):
            raise ValueError(f"{name}: a category is longer than {MAX_CATEGORY_LENGTH} characters")
        if len(self.authors) > MAX_AUTHORS or any(len(a) > MAX_AUTHOR_LENGTH for a in self.authors):
            raise ValueError(f"{name}: more than {MAX_AUTHORS:,} authors or an over-long name")
        if not 0 < self.version <= MAX_COUNT:
            raise ValueError(f"{name}: version {self.version} is out of range")


@dataclass(frozen=True)
class HFRecord:
    """One Hugging Face Daily Papers item: the paper as HF knows it plus its trending signal."""

    paper: PaperRecord
    featured_on: date
    upvotes: int
    num_comments: int
    github_repo: str | None
    github_stars: int | None
    # Hugging Face's one-sentence summary of the paper, when it has one.
    ai_summary: str = ""
    # The project's page as Hugging Face knows it (`projectPage`).
    project_page: str | None = None

    def __post_init__(self) -> None:
        counts = (self.upvotes, self.num_comments, self.github_stars or 0)
        if any(count > MAX_COUNT for count in counts):
            raise ValueError(f"{self.paper.arxiv_id}: a count is out of range")
        if len(self.ai_summary) > MAX_LENGTHS["abstract"]:
            raise ValueError(f"{self.paper.arxiv_id}: ai_summary is over-long")


@dataclass
class ParsedPage:
    """What one upstream document held. `problem` is set when the document was damaged:
    `records` then holds only the complete entries that preceded the damage."""

    source: str
    records: list = field(default_factory=list)
    total_results: int | None = None
    problem: str | None = None
