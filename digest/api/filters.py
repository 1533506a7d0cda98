"""Query parameters of GET /api/papers/. A value that does not parse is a 400 that names the
parameter (django-filter's validation), never a silently ignored filter."""

from datetime import date

import django_filters
from django.conf import settings
from django.core.validators import EMPTY_VALUES
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
    published_before = django_filters.DateFilter(
        field_name="published", lookup_expr="date__lte", help_text="Published on or before"
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

    def filter_queryset(self, queryset: QuerySet[Paper]) -> QuerySet[Paper]:
        # `q` last: the search then looks only among the papers the other filters leave, so
        # its best matches are ones that pass them.
        data = self.form.cleaned_data
        for name in sorted(data, key=lambda name: name == "q"):
            queryset = self.filters[name].filter(queryset, data[name])
        return queryset

    def narrows(self) -> bool:
        """Whether a filter besides `q` has a value (one that does not parse counts as none)."""
        self.is_valid()
        data = self.form.cleaned_data
        return any(data[name] not in EMPTY_VALUES for name in data if name != "q")

    def search(self, papers: QuerySet[Paper], name: str, query: str) -> QuerySet[Paper]:
        among = papers if self.narrows() else None
        hits = search_papers(query=query, among=among, limit=settings.API_SEARCH_LIMIT)
        if not hits:
            return papers.none()
        rank = Case(
            *(When(pk=hit.paper.pk, then=Value(i)) for i, hit in enumerate(hits)),
            output_field=IntegerField(),
        )
        found = papers.filter(pk__in=[hit.paper.pk for hit in hits])
        return found.annotate(search_rank=rank).order_by("search_rank")
