"""Refresh GitHub stars of code links, oldest reading first, within the API's rate limit; each
reading also says whether the repository has content (digest.services.code_status)."""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from digest.models import CodeLink, Paper
from digest.services.code_status import update_code_status
from digest.services.sources import clients
from digest.services.sources.code_checks import read_repo, record_repo_reading
from digest.services.sources.records import SourceError

log = logging.getLogger(__name__)


@dataclass
class StarRefresh:
    checked: int = 0
    changed: int = 0
    rate_limited_until: datetime | None = None


def refresh_stars(*, limit: int = 100) -> StarRefresh:
    """Read stars for up to `limit` GitHub links; stops early when the rate limit is spent.
    Does nothing without GITHUB_TOKEN: 60 anonymous requests an hour are not worth it."""
    outcome = StarRefresh()
    if not settings.GITHUB_TOKEN:
        return outcome
    session = clients.http_session(
        user_agent=settings.HTTP_USER_AGENT, max_retry_after=settings.HTTP_MAX_RETRY_AFTER_SECONDS
    )
    links = CodeLink.objects.filter(host="github.com").order_by(
        F("stars_checked_at").asc(nulls_first=True)
    )[:limit]
    moved = set()
    for link in links:
        try:
            reading = read_repo(session, link)
        except SourceError as exc:
            # One repository GitHub will not describe (403, 5xx) must not stop the others: it
            # counts as read and waits its turn like any other.
            log.warning("stars of %s not read: %s", link.url, exc)
            reading = None
        if reading and reading.rate_limited_until:
            outcome.rate_limited_until = reading.rate_limited_until
            break
        if reading and reading.refused:  # 404, or 451 for a DMCA block: recorded on the link
            log.warning("stars of %s not read: %s", link.url, reading.problem)
        outcome.checked += 1
        now = timezone.now()
        before = link.stars
        if reading and record_repo_reading(link, reading, at=now):
            moved.add(link.paper_id)
        if reading and reading.stars is not None and reading.stars != before:
            outcome.changed += 1
        link.stars_checked_at = now
        link.save(update_fields=["stars_checked_at"])
    # A repository that filled (or emptied) moves its paper's status.
    update_code_status(papers=list(Paper.objects.filter(pk__in=moved)))
    return outcome
