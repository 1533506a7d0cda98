"""HTTP caching of API responses: validators and Cache-Control for clients and proxies, and a
cached copy of whole list pages (shared, and per process) between two content changes."""

import functools
import hashlib

from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.cache import get_conditional_response, patch_cache_control, set_response_etag
from rest_framework.response import Response

from digest.services.content_version import KEY as VERSION_KEY
from digest.services.content_version import (
    fetch_current,
    read_version,
    recent_version,
    remember_version,
    store_current,
)


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


def _keep_only(request: HttpRequest, *, names: frozenset[str]) -> None:
    """Leave the request only its known query parameters, sorted, each with the one value the
    view reads (the last, as QueryDict.get) and none empty (an empty one means absent). A
    `?utm_source=...` or a cache buster then neither makes a new cache entry nor travels into
    the stored page's links, which every later client is given."""
    request.META["QUERY_STRING"], request.GET = _kept(request.META.get("QUERY_STRING", ""), names)


@functools.lru_cache(maxsize=1024)
def _kept(query: str, names: frozenset[str]) -> tuple[str, QueryDict]:
    """(query string, its QueryDict) of what `query` keeps: most requests ask for a page some
    client asked for before, so each is parsed once per process. The QueryDict is immutable,
    so requests can share it."""
    # WSGI hands the query string over as Latin-1 text; Django reads it as bytes, as here.
    given, kept = QueryDict(query.encode("iso-8859-1")), QueryDict(mutable=True)
    for name in sorted(names):
        if value := given.get(name):
            kept[name] = value
    text = kept.urlencode()
    return text, QueryDict(text)


def _page_key(request: HttpRequest) -> str:
    # Host included: responses carry absolute links.
    address = f"{request.get_host()}{request.get_full_path()}"
    return f"api:page:{hashlib.sha256(address.encode()).hexdigest()}"


class CachedListMixin:
    """List pages from the cache, keyed by the known query parameters only, until ingestion or
    moderation changes the content version. A hit is answered before DRF wraps the request:
    the stored bytes and their ETag, after the same throttles, with no query and no
    serialisation; from this process's copy of the page, its only round trip to Redis is the
    throttle's (which also re-reads the content version once it is older than
    API_CONTENT_VERSION_SECONDS). A miss goes through DRF and its page is stored under the
    version read before it was built, so a page built across a content change is never taken
    for a current one."""

    page_key: str | None = None
    version: int | None = None
    # The throttles' waits, counted on the way in; None until then (DRF counts them itself).
    throttle_waits: list[float | None] | None = None

    def known_parameters(self) -> frozenset[str]:
        """What the list reads: its filters and its pagination."""
        pagination = self.pagination_class
        return frozenset(
            [
                *self.filterset_class.base_filters,
                pagination.page_query_param,
                pagination.page_size_query_param,
            ]
        )

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            _keep_only(request, names=self.known_parameters())
            self.page_key = _page_key(request)
            self.version = self._count_throttles(request)
            # A throttled client goes on to DRF, which refuses it with its usual 429.
            stored = None
            if not self.throttle_waits:
                timeout = settings.API_LIST_CACHE_SECONDS
                stored = fetch_current(self.page_key, version=self.version, timeout=timeout)
            if stored is not None:
                etag, body = stored
                page = HttpResponse(body, content_type="application/json", headers={"ETag": etag})
                return cacheable(request, page, private=False)
        return super().dispatch(request, *args, **kwargs)

    def _count_throttles(self, request: HttpRequest) -> int:
        """Count the request against each throttle once, and return the content version: read
        in the first throttle's round trip when this process's copy is too old."""
        version, self.throttle_waits = recent_version(), []
        for throttle in self.get_throttles():
            if version is None and hasattr(throttle, "allow_reading"):
                allowed, found = throttle.allow_reading(request, read=VERSION_KEY)
                version = remember_version(found)
            else:
                allowed = throttle.allow_request(request, self)
            if not allowed:
                self.throttle_waits.append(throttle.wait())
        return read_version() if version is None else version

    def check_throttles(self, request: HttpRequest) -> None:
        # Counted on the way in: DRF only answers what that found, never counts twice.
        if self.throttle_waits is None:
            return super().check_throttles(request)
        if self.throttle_waits:
            waits = [wait for wait in self.throttle_waits if wait is not None]
            self.throttled(request, max(waits, default=None))
        return None

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
