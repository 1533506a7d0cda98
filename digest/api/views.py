"""Read-only endpoints. Anonymous and throttled; every successful GET carries an ETag and
Cache-Control, and list pages come from the shared cache until the content changes."""

import re
from datetime import date

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import generics
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotFound, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from digest.api.caching import CacheableMixin, CachedListMixin
from digest.api.filters import PaperFilter
from digest.api.serializers import (
    DigestSerializer,
    ErrorSerializer,
    PaperDetailSerializer,
    PaperSerializer,
    PersonalFeedSerializer,
)
from digest.models import Paper
from digest.services.papers import unversioned_id, visible_papers, with_cards
from digest.services.personal_feed import latest_digest, subscriber_for_feed_token
from digest.services.trending import trending_papers

# New-style (2512.13689) and old-style (hep-th/9901001) arXiv ids, with a version or not.
ARXIV_ID = re.compile(r"[A-Za-z0-9.\-/]{1,32}")
ARXIV_ID_PARAMETER = OpenApiParameter(
    "arxiv_id",
    str,
    OpenApiParameter.PATH,
    pattern=f"^{ARXIV_ID.pattern}$",
    examples=[OpenApiExample("LitePT", value="2512.13689")],
)
DAY_PARAMETER = OpenApiParameter(
    "day",
    OpenApiTypes.DATE,
    OpenApiParameter.PATH,
    examples=[OpenApiExample("A Hugging Face Daily Papers day", value="2026-06-12")],
)

ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Bad parameters: field -> messages"),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests; see Retry-After"),
}
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="No such (visible) paper")}
PAST_THE_END = {404: OpenApiResponse(ErrorSerializer, description="A page past the end")}


class JsonOnly(BaseContentNegotiation):
    """The API speaks JSON only: it answers JSON whatever the Accept header says, never a 406,
    and skips parsing the header on every request."""

    def select_parser(self, request: Request, parsers: list) -> object:
        return parsers[0]

    def select_renderer(self, request: Request, renderers: list, format_suffix=None) -> tuple:
        return renderers[0], renderers[0].media_type


class ApiView(CacheableMixin):
    """What every endpoint shares: JSON, ETag, Cache-Control and 304s."""

    content_negotiation_class = JsonOnly


class PaperPagination(PageNumberPagination):
    """`page` and `page_size` must be whole numbers from 1 (400 otherwise); a page past the
    end is a 404. `next`/`previous` are absolute links, null at the ends."""

    page_size_query_param = "page_size"

    @property
    def page_size(self) -> int:
        return settings.API_PAGE_SIZE

    @property
    def max_page_size(self) -> int:
        return settings.API_MAX_PAGE_SIZE

    def _whole(self, request: Request, name: str, default: int) -> int:
        raw = request.query_params.get(name, "")
        if not raw:
            return default
        if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
            raise ValidationError({name: [f"{name} must be a whole number from 1, not {raw!r}"]})
        return int(raw)

    def get_page_size(self, request: Request) -> int:
        return min(self._whole(request, "page_size", self.page_size), self.max_page_size)

    def get_page_number(self, request: Request, paginator: object) -> int:
        return self._whole(request, "page", 1)

    def get_schema_operation_parameters(self, view: object) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
        return parameters


@extend_schema(responses={200: PaperSerializer(many=True), **ERRORS, **PAST_THE_END})
class PaperList(ApiView, CachedListMixin, generics.ListAPIView):
    """Every visible paper, by trending score (best first) or, with `q`, by match. Filters
    narrow it; 404 for a page past the end."""

    serializer_class = PaperSerializer
    pagination_class = PaperPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = PaperFilter

    def get_queryset(self):
        return trending_papers()


@extend_schema(
    parameters=[ARXIV_ID_PARAMETER],
    responses={200: PaperDetailSerializer, **NOT_FOUND, 429: ERRORS[429]},
)
class PaperDetail(ApiView, generics.RetrieveAPIView):
    """One visible paper with its nearest papers by meaning."""

    serializer_class = PaperDetailSerializer

    def get_object(self) -> Paper:
        arxiv_id = self.kwargs["arxiv_id"]
        paper = (
            with_cards(visible_papers()).filter(pk=unversioned_id(arxiv_id)).first()
            if ARXIV_ID.fullmatch(arxiv_id)
            else None
        )
        if paper is None:
            raise NotFound(f"No paper {arxiv_id!r} here.")
        return paper


@extend_schema(
    parameters=[DAY_PARAMETER],
    responses={200: DigestSerializer, **ERRORS},
)
class DigestOfDay(ApiView, generics.GenericAPIView):
    """The public digest of a day: its top trending visible papers, editors' pins first (the
    same for everyone; subscribers' emails are ranked for each of them)."""

    serializer_class = DigestSerializer

    def get(self, request: Request, day: str) -> Response:
        try:
            parsed = date.fromisoformat(day)
        except ValueError as exc:
            raise ValidationError(
                {"day": [f"day must be a date as YYYY-MM-DD, not {day!r}"]}
            ) from exc
        papers = trending_papers(day=parsed)[: settings.API_DIGEST_SIZE]
        return Response(self.get_serializer({"date": parsed, "papers": papers}).data)


class FeedTokenAuthentication(BaseAuthentication):
    """A subscriber's feed token, as `?token=` (feed readers) or `Authorization: Bearer`."""

    def authenticate(self, request: Request):
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        token = credentials.strip() if scheme.lower() == "bearer" else ""
        token = token or request.query_params.get("token", "")
        if not token:
            return None
        subscriber = subscriber_for_feed_token(token=token)
        if subscriber is None:
            raise AuthenticationFailed("This feed token is not valid (it may have been revoked).")
        return (AnonymousUser(), subscriber)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="feed"'


class FeedTokenScheme(OpenApiAuthenticationExtension):
    target_class = FeedTokenAuthentication
    name = ["feedToken", "feedTokenQuery"]

    def get_security_requirement(self, auto_schema) -> list[dict]:
        # Either way works: one or the other, not both.
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema) -> list[dict]:
        return [
            {"type": "http", "scheme": "bearer"},
            {"type": "apiKey", "in": "query", "name": "token"},
        ]


class HasFeedToken(BasePermission):
    def has_permission(self, request: Request, view: object) -> bool:
        return request.auth is not None


@extend_schema(
    responses={
        200: PersonalFeedSerializer,
        401: OpenApiResponse(ErrorSerializer, description="Missing or revoked feed token"),
        429: ERRORS[429],
    }
)
class PersonalFeed(ApiView, generics.GenericAPIView):
    """The papers of your latest digest, in its order ("for_you" first, then "trending").
    The token is on your preference page; getting a new one there revokes the old."""

    private = True
    serializer_class = PersonalFeedSerializer
    authentication_classes = [FeedTokenAuthentication]
    permission_classes = [HasFeedToken]

    def get(self, request: Request) -> Response:
        digest = latest_digest(subscriber=request.auth)
        data = {"date": digest.day, "papers": digest.papers}
        return Response(self.get_serializer(data).data)
