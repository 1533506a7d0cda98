"""Readers seed their interests from papers they know (pasted ids or links, a BibTeX file):
each becomes a liked paper. Papers we do not have are fetched from arXiv by id first."""

from dataclasses import dataclass

from digest.models import Paper, PaperFeedback
from digest.services.ranking.digests import record_feedback
from digest.services.sources import fetch

# Enough for a reading list; more would hold the arXiv client for minutes (3 s per page).
MAX_SEEDS = 100


@dataclass(frozen=True)
class SeedReport:
    liked: list[str]
    fetched: int
    unknown: list[str]  # ids arXiv does not know either


def like_papers(*, subscriber_id: int, arxiv_ids: list[str]) -> SeedReport:
    """Mark these papers liked by the reader, fetching the ones we lack (raises SourceError
    when arXiv cannot be reached: the task retries)."""
    wanted = list(dict.fromkeys(arxiv_ids))[:MAX_SEEDS]
    missing = sorted(set(wanted) - _known(wanted))
    fetched = fetch.fetch_by_ids(arxiv_ids=missing).counts.new if missing else 0
    known = _known(wanted)
    liked = [pk for pk in wanted if pk in known]
    for paper_id in liked:
        record_feedback(
            subscriber_id=subscriber_id, paper_id=paper_id, kind=PaperFeedback.Kind.LIKE
        )
    return SeedReport(
        liked=liked, fetched=fetched, unknown=[pk for pk in wanted if pk not in known]
    )


def _known(arxiv_ids: list[str]) -> set[str]:
    return set(Paper.objects.filter(pk__in=arxiv_ids).values_list("pk", flat=True))
