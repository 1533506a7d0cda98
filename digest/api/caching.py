"""HTTP caching of API responses: validators and Cache-Control for clients and proxies, and a
shared-cache copy of whole list pages between two content changes."""

import hashlib

from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.cache import get_conditional_response, patch_cache_control, set_response_etag
from rest_framework.response import Response

from digest.services.content_version import fetch_current, store_current


def cacheable(request: HttpRequest, response: HttpResponse, *, private: bool) -> HttpResponse:
    """ETag + Cache-Control on a successful GET; a 304 when the client already has it."""
    if request.method not in ("GET", "HEAD") or response.status_code != 200:
        return response
    if hasattr(response, "render"):
        response.render()
    if not response.has_header("ETag"):  # a cached page brings its own
        set_response_etag(response)
    # A personal feed must not sit in a shared proxy; the public API may. One directive, as
    # True: patch_cache_control writes a False as the text "private=False".
    scope = "private" if private else "public"
    patch_cache_control(response, **{scope: True}, max_age=settings.API_MAX_AGE_SECONDS)
    return get_conditional_response(request, etag=response["ETag"], response=response)


class CacheableMixin:
    """ETag, Cache-Control and 304s for every successful GET of a DRF view."""

    private = False

    def finalize_response(self, request: HttpRequest, response: HttpResponse, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        return cacheable(request, response, private=self.private)


def _keep_only(request: HttpRequest, *, names: set[str]) -> None:
    """Leave the request only its known query parameters, sorted, each with the one value the
    view reads (the last, as QueryDict.get) and none empty (an empty one means absent). A
    `?utm_source=...` or a cache buster then neither makes a new cache entry nor travels into
    the stored page's links, which every later client is given."""
    kept = QueryDict(mutable=True)
    for name in sorted(names):
        if value := request.GET.get(name):
            kept[name] = value
    request.GET = kept
    request.META["QUERY_STRING"] = kept.urlencode()


def _page_key(request: HttpRequest) -> str:
    # Host included: responses carry absolute links.
    address = f"{request.get_host()}{request.get_full_path()}"
    return f"api:page:{hashlib.sha256(address.encode()).hexdigest()}"


class CachedListMixin:
    """List pages from the shared cache, keyed by the known query parameters only, until
    ingestion or moderation changes the content version. A hit is answered before DRF wraps
    the request: the stored bytes and their ETag, after the same throttles, with no query and
    no serialisation. A miss goes through DRF and its page is stored under the version read
    before it was built, so a page built across a content change is never taken for a
    current one."""

    page_key: str | None = None
    version: int | None = None

    def known_parameters(self) -> set[str]:
        """What the list reads: its filters and its pagination."""
        pagination = self.pagination_class
        return {
            *self.filterset_class.base_filters,
            pagination.page_query_param,
            pagination.page_size_query_param,
        }

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            _keep_only(request, names=self.known_parameters())
            self.page_key = _page_key(request)
            self.version, stored = fetch_current(self.page_key)
            # A throttled client falls through to DRF, which refuses it with its usual 429.
            if stored is not None and all(
                throttle.allow_request(request, self) for throttle in self.get_throttles()
            ):
                etag, body = stored
                page = HttpResponse(body, content_type="application/json", headers={"ETag": etag})
                return cacheable(request, page, private=False)
        return super().dispatch(request, *args, **kwargs)

    def finalize_response(self, request: HttpRequest, response: HttpResponse, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Only a freshly built list page (a DRF Response) is stored; errors never are.
        if self.page_key and isinstance(response, Response) and response.status_code == 200:
            set_response_etag(response.render())
            store_current(
                self.page_key,
                (response["ETag"], response.content),
                version=self.version,
                timeout=settings.API_LIST_CACHE_SECONDS,
            )
        return response
