"""What a client and a proxy see: validators, Cache-Control, 304s, the cached list and when it
goes stale, constant SQL per uncached page, throttling."""

import time

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from redis.connection import Connection

from digest.models import Paper
from digest.services import content_version, rate_limits
from digest.services.moderation import PaperAction, moderate_papers
from digest.services.sources.fetch import replay
from tests.conftest import ARXIV_PAGES

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path", ["/api/papers/", "/api/papers/2512.13689/", "/api/digests/2026-06-12/"]
)
def test_public_responses_are_cacheable_and_revalidate_to_304(client, corpus, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response["ETag"].startswith('"')
    # Each directive once, as written by patch_cache_control (no "private=False").
    assert sorted(response["Cache-Control"].split(", ")) == ["max-age=60", "public"]
    again = client.get(path, HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304 and again.content == b""
    assert client.get(path, HTTP_IF_NONE_MATCH='"something else"').status_code == 200


def test_a_cached_list_page_costs_no_query(client, corpus, django_assert_num_queries):
    first = client.get("/api/papers/", {"category": "cs.CV"})
    with django_assert_num_queries(0):
        again = client.get("/api/papers/", {"category": "cs.CV"})
    assert again.content == first.content
    assert again["ETag"] == first["ETag"]


def test_unknown_query_parameters_share_one_cached_page(
    client, corpus, redis_cache, django_assert_num_queries
):
    first = client.get("/api/papers/", {"category": "cs.CV", "utm_source": "mail", "q": ""})
    # Other unknown parameters, another order: the same page, straight from Redis.
    with django_assert_num_queries(0):
        again = client.get("/api/papers/", {"_": "1718", "category": "cs.CV", "fbclid": "x"})
    assert again.content == first.content
    assert len(redis_cache.keys("api:page:*")) == 1
    # Nor do they travel into the page's links, which every later client is given.
    assert first.json()["next"].endswith("/api/papers/?category=cs.CV&page=2")


def test_a_query_written_in_utf8_bytes_reads_as_its_percent_encoded_twin(client, corpus):
    # A search word with accents, as a browser percent-encodes it and as a client may send
    # it raw: the same filter, the same page and links (a word of a recorded abstract).
    word = next(w for p in Paper.objects.all() for w in p.abstract.split() if not w.isascii())
    raw = client.get(f"/api/papers/?q={word}&utm_source=x")
    encoded = client.get("/api/papers/", {"q": word})
    assert raw.status_code == encoded.status_code == 200
    assert raw.json()["count"] >= 1
    assert raw.content == encoded.content


def test_moderation_makes_cached_lists_stale(
    client, corpus, admin_user, django_capture_on_commit_callbacks
):
    top = client.get("/api/papers/").json()["results"][0]["arxiv_id"]
    with django_capture_on_commit_callbacks(execute=True):
        moderate_papers(paper_ids=[top], action=PaperAction.HIDE, actor=admin_user, reason="x")
    assert top not in {item["arxiv_id"] for item in client.get("/api/papers/").json()["results"]}


def test_ingestion_makes_cached_lists_stale(client, corpus, django_capture_on_commit_callbacks):
    before = client.get("/api/papers/").json()["count"]
    with django_capture_on_commit_callbacks(execute=True):
        replay(paths=[ARXIV_PAGES[1]])
    assert client.get("/api/papers/").json()["count"] == before + 100


@pytest.fixture
def redis_round_trips(monkeypatch):
    """Every request written to Redis (a pipeline is one), as the server sees them arrive."""
    sent = []
    original = Connection.send_packed_command

    def send(self, command, check_health=True):
        sent.append(command)
        return original(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", send)
    return sent


def test_a_hit_on_this_process_copy_makes_one_round_trip_to_redis(
    client, corpus, redis_cache, redis_round_trips, settings
):
    settings.API_CONTENT_VERSION_SECONDS = 60
    first = client.get("/api/papers/", {"category": "cs.CV"})
    redis_round_trips.clear()
    again = client.get("/api/papers/", {"category": "cs.CV"})
    assert again.content == first.content
    assert len(redis_round_trips) == 1  # the throttle's counter, nothing else
    # A client that has it gets a 304 for the same one round trip.
    redis_round_trips.clear()
    revalidated = client.get(
        "/api/papers/", {"category": "cs.CV"}, HTTP_IF_NONE_MATCH=first["ETag"]
    )
    assert revalidated.status_code == 304 and len(redis_round_trips) == 1


def test_a_change_made_in_another_process_shows_within_the_reread_interval(
    client, corpus, redis_cache, admin_user, django_capture_on_commit_callbacks, settings
):
    settings.API_CONTENT_VERSION_SECONDS = 1
    top = client.get("/api/papers/").json()["results"][0]["arxiv_id"]
    # Moderated by another process (the admin's worker): here only the shared cache's version
    # changes, as that process's content_changed() leaves it.
    with django_capture_on_commit_callbacks(execute=False):
        moderate_papers(paper_ids=[top], action=PaperAction.HIDE, actor=admin_user, reason="x")
    redis_cache.set(content_version.KEY, time.time_ns(), timeout=None)
    shown = {item["arxiv_id"] for item in client.get("/api/papers/").json()["results"]}
    assert top in shown  # this process's copy, its version read under a second ago
    time.sleep(1.1)
    shown = {item["arxiv_id"] for item in client.get("/api/papers/").json()["results"]}
    assert top not in shown


def test_the_throttle_refuses_cached_hits_over_its_rate_on_redis(
    client, corpus, redis_cache, settings, window_to_spare
):
    settings.API_THROTTLE_RATE = "3/minute"
    settings.API_CONTENT_VERSION_SECONDS = 60
    for _ in range(3):  # one miss, then hits from this process's copy
        assert client.get("/api/papers/").status_code == 200
    response = client.get("/api/papers/")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    # Counted once per request, refused ones included, in a counter that expires with its
    # window.
    (counter,) = redis_cache.keys("rate:api:127.0.0.1:*")
    assert redis_cache.get(counter) == 4
    assert 0 < redis_cache.ttl(counter) <= 60
    assert client.get("/api/papers/", REMOTE_ADDR="192.0.2.7").status_code == 200


def test_a_high_rate_is_leased_yet_never_exceeded(
    client, corpus, redis_cache, redis_round_trips, settings, window_to_spare
):
    # 300 a minute: this process takes attempts in leases of up to 300 / 64 = 4.
    settings.API_THROTTLE_RATE = "300/minute"
    settings.API_CONTENT_VERSION_SECONDS = 60
    client.get("/api/papers/")
    redis_round_trips.clear()
    statuses = [client.get("/api/papers/").status_code for _ in range(309)]
    assert statuses == [200] * 299 + [429] * 10
    # The admitted hits took leases of up to 4 attempts, not a round trip each.
    assert len(redis_round_trips) < 299 // 3 + 10
    # Another process with nothing leased (its own memory) gets nothing more this window.
    caches["local"].clear()
    assert client.get("/api/papers/").status_code == 429


def test_a_new_clients_first_hit_costs_no_round_trip_and_is_counted_with_the_next(
    client, corpus, redis_cache, redis_round_trips, settings
):
    settings.API_CONTENT_VERSION_SECONDS = 60
    client.get("/api/papers/")
    redis_round_trips.clear()
    # Two clients' first requests of the window: answered from this process's copy alone.
    for address in ("192.0.2.10", "192.0.2.11"):
        assert client.get("/api/papers/", REMOTE_ADDR=address).status_code == 200
    assert redis_round_trips == []
    assert redis_cache.keys("rate:api:192.0.2.*") == []
    # The first one comes back: one round trip counts its two requests and the other's one.
    redis_round_trips.clear()
    assert client.get("/api/papers/", REMOTE_ADDR="192.0.2.10").status_code == 200
    assert len(redis_round_trips) == 1
    (again,) = redis_cache.keys("rate:api:192.0.2.10:*")
    (once,) = redis_cache.keys("rate:api:192.0.2.11:*")
    assert (redis_cache.get(again), redis_cache.get(once)) == (2, 1)
    assert 0 < redis_cache.ttl(once) <= 60


def test_first_hits_wait_at_most_a_second_for_their_round_trip(
    client, corpus, redis_cache, redis_round_trips, settings, monkeypatch
):
    settings.API_CONTENT_VERSION_SECONDS = 60
    client.get("/api/papers/")
    assert client.get("/api/papers/", REMOTE_ADDR="192.0.2.20").status_code == 200
    monkeypatch.setattr(rate_limits.FirstAttempts, "FLUSH_SECONDS", 0.05)
    time.sleep(0.1)
    redis_round_trips.clear()
    # Another new client, once the first has waited long enough: counted at once, with it.
    assert client.get("/api/papers/", REMOTE_ADDR="192.0.2.21").status_code == 200
    assert len(redis_round_trips) == 1
    for address in ("192.0.2.20", "192.0.2.21"):
        (counter,) = redis_cache.keys(f"rate:api:{address}:*")
        assert redis_cache.get(counter) == 1


def test_a_client_gets_at_most_one_hit_per_process_beyond_the_rate(
    client, corpus, redis_cache, settings, window_to_spare
):
    settings.API_THROTTLE_RATE = "3/minute"
    settings.API_CONTENT_VERSION_SECONDS = 60
    assert [client.get("/api/papers/").status_code for _ in range(4)] == [200] * 3 + [429]
    # Another process (nothing of this one's memory) admits the client's first request there
    # without asking Redis, then counts and refuses the next.
    rate_limits.FIRST_ATTEMPTS.clear()
    assert [client.get("/api/papers/").status_code for _ in range(3)] == [200, 429, 429]
    (counter,) = redis_cache.keys("rate:api:127.0.0.1:*")
    assert redis_cache.get(counter) == 7  # every request counted


def test_an_uncached_page_costs_the_same_queries_whatever_its_size(client, corpus, empty_cache):
    counts = []
    for size in (5, 50, 100):
        empty_cache.clear()
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/papers/", {"page_size": size})
        assert len(response.json()["results"]) == size
        counts.append(len(queries))
    assert counts[0] == counts[1] == counts[2], counts


def test_anonymous_clients_are_throttled_per_ip(client, corpus, settings, window_to_spare):
    settings.API_THROTTLE_RATE = "3/minute"
    for _ in range(3):
        assert client.get("/api/papers/").status_code == 200
    response = client.get("/api/papers/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "throttled" in response.json()["detail"].lower()
    # Another address has its own allowance.
    assert client.get("/api/papers/", REMOTE_ADDR="192.0.2.7").status_code == 200


def test_behind_a_proxy_the_configured_header_names_the_client(
    client, corpus, settings, window_to_spare
):
    settings.API_THROTTLE_RATE = "1/minute"
    settings.CLIENT_IP_HEADER, settings.TRUSTED_PROXY_COUNT = "HTTP_X_REAL_IP", 1
    assert client.get("/api/papers/", HTTP_X_REAL_IP="198.51.100.1").status_code == 200
    assert client.get("/api/papers/", HTTP_X_REAL_IP="198.51.100.2").status_code == 200
    assert client.get("/api/papers/", HTTP_X_REAL_IP="198.51.100.1").status_code == 429
