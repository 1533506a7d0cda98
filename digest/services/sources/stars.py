"""Refresh GitHub stars of code links, oldest reading first, within the API's rate limit."""

import logging
from dataclasses import dataclass
from datetime import datetime

import requests
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from digest.models import CodeLink
from digest.services.sources import clients
from digest.services.sources.ingest import record_stars
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
    for link in links:
        try:
            reading = _read_stars(session, link)
        except SourceError as exc:
            # One repository GitHub will not describe (451 for a DMCA block, 403, 5xx) must
            # not stop the others: it counts as read and waits its turn like any other.
            log.warning("stars of %s not read: %s", link.url, exc)
            reading = clients.RepoStars(stars=None)
        if reading.rate_limited_until:
            outcome.rate_limited_until = reading.rate_limited_until
            break
        outcome.checked += 1
        now = timezone.now()
        if reading.stars is not None and record_stars(link, reading.stars, at=now):
            outcome.changed += 1
        else:
            link.stars_checked_at = now
            link.save(update_fields=["stars_checked_at"])
    return outcome


def _read_stars(session: requests.Session, link: CodeLink) -> clients.RepoStars:
    return clients.fetch_repo_stars(
        session=session,
        api_url=settings.GITHUB_API_URL,
        owner=link.owner,
        name=link.name,
        token=settings.GITHUB_TOKEN,
        timeout=settings.HTTP_TIMEOUT_SECONDS,
    )
