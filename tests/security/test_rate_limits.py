"""Rate limits on signup, "report a problem", search and the API count per client IP, and a client
cannot pick a fresh IP with a forwarding header: without a trusted proxy only the socket's
address counts; behind TRUSTED_PROXY_COUNT proxies, only the entry the first of them
appended. IPv6 clients count by /64."""

from collections.abc import Callable, Iterator

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st
from python_ipware import IpWare

from digest.models import Paper
from digest.services import rate_limits
from digest.services.sources.fetch import replay
from tests.conftest import HF_DAILY

pytestmark = pytest.mark.django_db

LIMIT = 3
PROXY = "HTTP_X_FORWARDED_FOR"


def spoofed(i: int) -> dict[str, str]:
    """Every header a client might use to claim another address, new on each request."""
    address = f"198.51.100.{i}"
    return {
        "HTTP_X_FORWARDED_FOR": address,
        "HTTP_X_REAL_IP": address,
        "HTTP_FORWARDED": f"for={address}",
        "HTTP_CLIENT_IP": address,
        "HTTP_TRUE_CLIENT_IP": address,
    }


def behind_proxy(i: int, client_address: str) -> dict[str, str]:
    # The client sends a forged X-Forwarded-For; the proxy appends the address it saw.
    return {PROXY: f"198.51.100.{i}, 10.0.0.{i}, {client_address}"}


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    # The limits live in the cache, which outlives a test's database transaction.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def paper() -> Paper:
    replay(paths=[HF_DAILY])
    return Paper.objects.first()


def signup(client: Client, i: int, headers: dict[str, str]) -> int:
    data = {"email": f"reader{i}@example.org", "interests": "graph neural networks",
            "delivery_hour": 8, "timezone": "UTC", "digest_size": 10}  # fmt: skip
    return client.post(reverse("subscribe"), data, **headers).status_code


def report(client: Client, i: int, headers: dict[str, str], *, paper: Paper) -> int:
    url = reverse("paper-report", args=[paper.pk])
    return client.post(url, {"reason": f"wrong code link ({i})"}, **headers).status_code


def search(client: Client, i: int, headers: dict[str, str]) -> int:
    # Each search embeds its query with the model: the page must not be a side door.
    return client.get(reverse("search"), {"q": f"diffusion {i}"}, **headers).status_code


def api(client: Client, i: int, headers: dict[str, str]) -> int:
    return client.get(reverse("api-papers"), {"page": 1}, **headers).status_code


@pytest.fixture(params=["signup", "report", "search", "api"])
def endpoint(
    request, settings, paper, window_to_spare
) -> Callable[[Client, int, dict[str, str]], int]:
    """One rate-limited endpoint, its limit set to LIMIT per client IP."""
    settings.SUBSCRIBE_RATE_LIMIT = LIMIT
    settings.REPORT_RATE = f"{LIMIT}/hour"
    settings.API_THROTTLE_RATE = f"{LIMIT}/hour"
    settings.SEARCH_RATE = f"{LIMIT}/hour"
    if request.param == "report":
        return lambda client, i, headers: report(client, i, headers, paper=paper)
    return {"signup": signup, "search": search, "api": api}[request.param]


def test_forwarding_headers_do_not_reset_the_limit_without_a_trusted_proxy(
    client, settings, endpoint
):
    settings.TRUSTED_PROXY_COUNT = 0
    statuses = [endpoint(client, i, spoofed(i)) for i in range(LIMIT + 2)]
    assert all(status < 400 for status in statuses[:LIMIT])
    assert statuses[LIMIT:] == [429, 429]


def test_behind_a_trusted_proxy_only_the_address_it_saw_counts(client, settings, endpoint):
    settings.CLIENT_IP_HEADER, settings.TRUSTED_PROXY_COUNT = PROXY, 1
    statuses = [endpoint(client, i, behind_proxy(i, "203.0.113.7")) for i in range(LIMIT + 1)]
    assert statuses[LIMIT] == 429
    # Another reader behind the same proxy has a budget of their own.
    assert endpoint(client, 99, behind_proxy(99, "203.0.113.8")) < 400


def test_behind_a_cdn_and_a_load_balancer_each_client_has_its_own_budget(
    client, settings, endpoint
):
    settings.CLIENT_IP_HEADER, settings.TRUSTED_PROXY_COUNT = PROXY, 2

    def via_cdn(i: int, client_address: str) -> dict[str, str]:
        # A forged entry, the client's address as the CDN saw it, then the CDN's edge as the
        # load balancer saw it (REMOTE_ADDR is the load balancer).
        return {PROXY: f"198.51.100.{i}, {client_address}, 192.0.2.{i % 2}"}

    statuses = [endpoint(client, i, via_cdn(i, "203.0.113.7")) for i in range(LIMIT + 1)]
    assert statuses[LIMIT] == 429
    assert endpoint(client, 99, via_cdn(99, "203.0.113.8")) < 400


def test_ipv6_clients_count_by_their_64_network(client, settings, endpoint):
    settings.TRUSTED_PROXY_COUNT = 0

    def ipv6(network: str, i: int) -> dict[str, str]:
        return {"REMOTE_ADDR": f"2001:db8:{network}::{i + 1:x}"}

    statuses = [endpoint(client, i, ipv6("1:2", i)) for i in range(LIMIT + 1)]
    assert statuses[LIMIT] == 429
    assert endpoint(client, 99, ipv6("1:3", 99)) < 400


def test_a_refused_signup_says_when_to_try_again(client, settings, window_to_spare):
    settings.SUBSCRIBE_RATE_LIMIT = 1
    assert signup(client, 1, {}) < 400
    data = {"email": "again@example.org", "interests": "graph neural networks",
            "delivery_hour": 8, "timezone": "UTC", "digest_size": 10}  # fmt: skip
    refused = client.post(reverse("subscribe"), data)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= settings.SUBSCRIBE_RATE_WINDOW_SECONDS


def test_a_refused_search_says_when_to_try_again(client, settings, window_to_spare):
    settings.SEARCH_RATE = "1/minute"
    assert search(client, 1, {}) == 200
    refused = client.get(reverse("search"), {"q": "again"})
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 60
    assert "Too many searches" in refused.content.decode()
    # The page itself, without a query, runs no search and is never refused.
    assert client.get(reverse("search")).status_code == 200


ENTRY = st.sampled_from(
    ["203.0.113.7", "10.0.0.1", "::1", "2001:db8::1", "::ffff:192.0.2.1", "unknown", "", " "]
) | st.ip_addresses().map(str)


@given(
    chain=st.none() | st.lists(ENTRY, max_size=4).map(", ".join),
    proxies=st.integers(1, 3),
    other=st.sampled_from([None, "HTTP_X-FORWARDED-FOR", "x-forwarded-for", "X_FORWARDED_FOR"]),
)
def test_the_client_is_read_from_the_header_as_from_the_whole_request(chain, proxies, other):
    # The header missing (None), or beside another spelling of it (as a raw environ could
    # hold one): the engine reads the same whether given all of META or what we give it.
    meta = {"REMOTE_ADDR": "192.0.2.200", "SERVER_NAME": "x"}
    if chain is not None:
        meta["HTTP_X_FORWARDED_FOR"] = chain
    if other:
        meta[other] = "198.51.100.9"
    request = RequestFactory().get("/", **meta)
    with override_settings(CLIENT_IP_HEADER="HTTP_X_FORWARDED_FOR", TRUSTED_PROXY_COUNT=proxies):
        found = rate_limits._address(request)
    engine = IpWare(precedence=("HTTP_X_FORWARDED_FOR",), proxy_count=proxies - 1)
    expected, _trusted = engine.get_client_ip(request.META, strict=False)
    assert found == (str(expected) if expected is not None else "192.0.2.200")
