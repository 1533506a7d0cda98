"""What the API says about a paper. Every field reads prefetched data (`with_cards`), so a
page of any size costs the same number of queries."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from digest.models import DeliveryItem, Paper
from digest.services.papers import latest_signal, primary_code_link, trending_why
from digest.services.search import related_papers
from digest.text import unicode_text


class PaperSerializer(serializers.ModelSerializer):
    title = serializers.SerializerMethodField(help_text="Plain Unicode text, math included")
    abstract = serializers.SerializerMethodField(help_text="Plain Unicode text, math included")
    project_url = serializers.SerializerMethodField(
        allow_null=True, help_text="The project's own page (e.g. on GitHub Pages), when known"
    )
    authors = serializers.ListField(child=serializers.CharField(), help_text="In the paper's order")
    categories = serializers.SerializerMethodField()
    code_url = serializers.SerializerMethodField(
        allow_null=True,
        help_text="Canonical repository URL; an editor's correction wins over upstream links",
    )
    stars = serializers.SerializerMethodField(help_text="GitHub stars of that repository")
    code_status = serializers.ChoiceField(
        choices=Paper.CodeStatus.choices,
        read_only=True,
        help_text="none; announced (promised, or the repository is empty, a placeholder or "
        "not public yet); released",
    )
    code_released_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When we first saw the code out"
    )
    upvotes = serializers.SerializerMethodField(
        help_text="Hugging Face Daily Papers upvotes on the latest day it was featured"
    )
    trending_score = serializers.SerializerMethodField()
    why = serializers.SerializerMethodField(help_text="Why the paper is trending, in words")
    url = serializers.SerializerMethodField(help_text="The paper's page on this site")

    class Meta:
        model = Paper
        fields = [
            "arxiv_id",
            "title",
            "abstract",
            "authors",
            "primary_category",
            "categories",
            "published",
            "abs_url",
            "pdf_url",
            "code_url",
            "project_url",
            "stars",
            "code_status",
            "code_released_at",
            "upvotes",
            "trending_score",
            "why",
            "url",
        ]

    def get_title(self, paper: Paper) -> str:
        return unicode_text(paper.title)

    def get_abstract(self, paper: Paper) -> str:
        return unicode_text(paper.abstract)

    def get_categories(self, paper: Paper) -> list[str]:
        return [category.term for category in paper.categories.all()]

    @extend_schema_field(OpenApiTypes.URI)
    def get_code_url(self, paper: Paper) -> str | None:
        link = primary_code_link(paper)
        return link.url if link else None

    @extend_schema_field(OpenApiTypes.URI)
    def get_project_url(self, paper: Paper) -> str | None:
        return paper.project_url or None

    def get_stars(self, paper: Paper) -> int | None:
        link = primary_code_link(paper)
        return link.stars if link else None

    def get_upvotes(self, paper: Paper) -> int | None:
        signal = latest_signal(paper)
        return signal.upvotes if signal else None

    def get_trending_score(self, paper: Paper) -> float | None:
        trending = getattr(paper, "trending", None)
        return trending.score if trending else None

    def get_why(self, paper: Paper) -> str:
        return trending_why(paper)

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, paper: Paper) -> str:
        return self.context["request"].build_absolute_uri(
            reverse("paper-detail", args=[paper.arxiv_id])
        )


class RelatedPaperSerializer(serializers.ModelSerializer):
    title = serializers.SerializerMethodField(help_text="Plain Unicode text, math included")

    class Meta:
        model = Paper
        fields = ["arxiv_id", "title"]

    def get_title(self, paper: Paper) -> str:
        return unicode_text(paper.title)


class PaperDetailSerializer(PaperSerializer):
    related = serializers.SerializerMethodField(help_text="Nearest papers by meaning")

    class Meta(PaperSerializer.Meta):
        fields = [*PaperSerializer.Meta.fields, "related"]

    @extend_schema_field(RelatedPaperSerializer(many=True))
    def get_related(self, paper: Paper) -> list[dict]:
        return RelatedPaperSerializer(related_papers(paper=paper), many=True).data


class DigestSerializer(serializers.Serializer):
    date = serializers.DateField()
    papers = PaperSerializer(many=True, help_text="The day's pinned papers first, then by score")


class PersonalPaperSerializer(serializers.Serializer):
    paper = PaperSerializer()
    score = serializers.FloatField(help_text="Its score in your digest")
    reason = serializers.CharField(help_text="Why it was picked for you")
    section = serializers.ChoiceField(
        choices=DeliveryItem.Section.values,
        help_text="For you, Trending today, or a follow-up: Code is now out, Taking off",
    )


class PersonalFeedSerializer(serializers.Serializer):
    date = serializers.DateField(
        allow_null=True, help_text="The day of your latest digest; null before the first"
    )
    papers = PersonalPaperSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
