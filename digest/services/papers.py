"""Read-side queries over papers for the pages, the API and the feeds."""

from django.db.models import Prefetch, QuerySet

from digest.models import CodeLink, Paper


def latest_papers() -> QuerySet[Paper]:
    """Newest first, with code links loaded in one extra query."""
    return Paper.objects.prefetch_related(
        Prefetch("code_links", queryset=CodeLink.objects.order_by("id"))
    )
