"""Refresh GitHub stars of code links, oldest reading first, within the API's rate limit."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from digest.models import CodeLink
from digest.services.sources import clients
from digest.services.sources.ingest import record_stars


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
        reading = clients.fetch_repo_stars(
            session=session,
            api_url=settings.GITHUB_API_URL,
            owner=link.owner,
            name=link.name,
            token=settings.GITHUB_TOKEN,
            timeout=settings.HTTP_TIMEOUT_SECONDS,
        )
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
