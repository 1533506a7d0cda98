"""Query parameters of GET /api/papers/. A value that does not parse is a 400 that names the
parameter (django-filter's validation), never a silently ignored filter."""

from datetime import date

import django_filters
from django.conf import settings
from django.db.models import Case, IntegerField, QuerySet, Value, When

from digest.models import Paper
from digest.services.code_status import with_code_status
from digest.services.papers import featured_on
from digest.services.search import MAX_QUERY_LENGTH, search_papers

BOOLEAN = (("true", "true"), ("false", "false"))


def boolean(value: str | None) -> bool | None:
    """ "true" / "false" as the FilterSet's has_code takes them; anything else is None."""
    return {"true": True, "false": False}.get(value or "")


class PaperFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="search",
        help_text="Search by meaning (as the site's search), best match first; "
        f"only the first {MAX_QUERY_LENGTH} characters count",
    )
    category = django_filters.CharFilter(
        field_name="categories__term", help_text="An arXiv category, e.g. cs.CL"
    )
    has_code = django_filters.ChoiceFilter(
        choices=BOOLEAN, method="filter_has_code", help_text="Only papers with (or without) code"
    )
    code_status = django_filters.ChoiceFilter(
        choices=Paper.CodeStatus.choices,
        method="filter_code_status",
        help_text="Only papers whose code is in this state: `announced` for code promised but "
        "not yet released",
    )
    published_after = django_filters.DateFilter(
        field_name="published", lookup_expr="date__gte", help_text="Published on or after"
    )
    featured_on = django_filters.DateFilter(
        method="filter_featured_on",
        help_text="Featured that day on Hugging Face Daily Papers or pinned by an editor",
    )

    class Meta:
        model = Paper
        fields: list[str] = []

    def filter_has_code(self, papers: QuerySet[Paper], name: str, value: str) -> QuerySet[Paper]:
        return papers.filter(code_links__isnull=not boolean(value)).distinct()

    def filter_code_status(self, papers: QuerySet[Paper], name: str, value: str) -> QuerySet[Paper]:
        return with_code_status(papers, value)

    def filter_featured_on(self, papers: QuerySet[Paper], name: str, day: date) -> QuerySet[Paper]:
        return featured_on(papers, day)

    def search(self, papers: QuerySet[Paper], name: str, query: str) -> QuerySet[Paper]:
        # The other filters go into the search too, so its top results are the ones that pass.
        data = self.form.cleaned_data
        hits = search_papers(
            query=query,
            category=data.get("category") or None,
            has_code=boolean(data.get("has_code")),
            code_status=data.get("code_status") or None,
            published_after=data.get("published_after"),
            featured_day=data.get("featured_on"),
            limit=settings.API_SEARCH_LIMIT,
        )
        if not hits:
            return papers.none()
        rank = Case(
            *(When(pk=hit.paper.pk, then=Value(i)) for i, hit in enumerate(hits)),
            output_field=IntegerField(),
        )
        found = papers.filter(pk__in=[hit.paper.pk for hit in hits])
        return found.annotate(search_rank=rank).order_by("search_rank")
