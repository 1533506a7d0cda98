"""The admin is staff only and CSRF-protected, and failed logins are throttled per client IP
and per username in the shared cache. (Secure cookies in production: test_settings.)"""

import re
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "a long and unguessable passphrase"


def log_in(client: Client, username: str) -> int:
    url = reverse("admin:login")
    return client.post(url, {"username": username, "password": PASSWORD}).status_code


def test_anonymous_readers_are_sent_to_the_login_page(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_a_reader_without_staff_status_cannot_log_in(client):
    User.objects.create_user("reader", password=PASSWORD)
    assert log_in(client, "reader") == 200  # the form again, with its error
    assert client.get(reverse("admin:index")).status_code == 302


def test_staff_can_log_in(client):
    User.objects.create_user("editor", password=PASSWORD, is_staff=True)
    assert log_in(client, "editor") == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_the_login_form_needs_its_csrf_token():
    User.objects.create_user("editor", password=PASSWORD, is_staff=True)
    assert log_in(Client(enforce_csrf_checks=True), "editor") == 403


# --- Failed-login throttling (django-axes, counted in the shared cache) -------------------

LIMIT = 3
PROXY = "HTTP_X_FORWARDED_FOR"
THROTTLED = "Too many failed logins"


@pytest.fixture(autouse=True)
def throttle(settings, redis_cache) -> Iterator[None]:
    """The failure limit at LIMIT, counted in Redis (a key prefix of the test's own) as every
    web process of a deployment would count it."""
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.TRUSTED_PROXY_COUNT = 0
    # axes keeps the cache it was built with: build it on this test's cache, and after the
    # test leave it to be built again on whatever cache comes next.
    AxesProxyHandler.get_implementation(force=True)
    yield
    AxesProxyHandler.implementation = None


@pytest.fixture
def editor() -> User:
    return User.objects.create_user("editor", password=PASSWORD, is_staff=True)


def attempt(username: str, password: str = "wrong", **headers: str):
    """One login from a fresh client (no cookie carries anything over); REMOTE_ADDR and
    forwarding headers as given."""
    data = {"username": username, "password": password}
    return Client().post(reverse("admin:login"), data, **headers)


def fail(times: int, *, usernames: list[str] | None = None, **headers: str) -> list[int]:
    names = usernames or ["editor"] * times
    return [attempt(name, **headers).status_code for name in names[:times]]


def test_failures_from_one_address_lock_it_out_whatever_the_usernames(editor):
    # A new username each time: only the address ties the attempts together.
    assert fail(LIMIT - 1, usernames=["a", "b"], REMOTE_ADDR="192.0.2.1") == [200, 200]
    response = attempt("c", REMOTE_ADDR="192.0.2.1")
    assert response.status_code == 429 and THROTTLED in response.content.decode()
    # Even the right password waits now, from that address...
    assert attempt("editor", PASSWORD, REMOTE_ADDR="192.0.2.1").status_code == 429
    # ...while another address logs the same editor in.
    assert attempt("editor", PASSWORD, REMOTE_ADDR="192.0.2.2").status_code == 302


def test_failures_for_one_username_lock_it_out_from_every_address(editor):
    for i in range(LIMIT):
        attempt("editor", REMOTE_ADDR=f"198.51.100.{i}")
    assert attempt("editor", PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 429
    User.objects.create_user("colleague", password=PASSWORD, is_staff=True)
    assert attempt("colleague", PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 302


def without_csrf_token(page: bytes) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page.decode())


def test_the_answers_do_not_tell_whether_a_username_exists(editor):
    def answers(username: str, address: str) -> list[tuple[int, str]]:
        pages = [attempt(username, REMOTE_ADDR=address) for _ in range(LIMIT + 1)]
        # The form echoes the typed username; the rest of each page must be the same.
        return [
            (p.status_code, without_csrf_token(p.content).replace(username, "U")) for p in pages
        ]

    existing, unknown = answers("editor", "192.0.2.10"), answers("nobody", "192.0.2.11")
    assert existing == unknown
    assert [status for status, _ in existing] == [200] * (LIMIT - 1) + [429, 429]
    # The lockout page names neither the username nor the address.
    lockout = attempt("editor", REMOTE_ADDR="192.0.2.10").content.decode()
    assert THROTTLED in lockout and "editor" not in lockout and "192.0.2.10" not in lockout


def test_a_spoofed_forwarding_header_does_not_reset_the_count(editor):
    statuses = [
        attempt(
            f"user{i}", REMOTE_ADDR="192.0.2.20", HTTP_X_FORWARDED_FOR=f"10.9.8.{i}"
        ).status_code
        for i in range(LIMIT + 1)
    ]
    assert statuses[LIMIT - 1 :] == [429, 429]


def test_behind_a_trusted_proxy_the_address_it_saw_counts(editor, settings):
    settings.CLIENT_IP_HEADER, settings.TRUSTED_PROXY_COUNT = PROXY, 1
    # The proxy appends the address it saw to whatever the client forged.
    for i in range(LIMIT):
        attempt(f"user{i}", REMOTE_ADDR="10.0.0.1", **{PROXY: f"10.9.8.{i}, 203.0.113.7"})
    blocked = attempt("editor", PASSWORD, REMOTE_ADDR="10.0.0.1", **{PROXY: "203.0.113.7"})
    other = attempt("editor", PASSWORD, REMOTE_ADDR="10.0.0.1", **{PROXY: "203.0.113.8"})
    assert (blocked.status_code, other.status_code) == (429, 302)


def test_successful_logins_are_not_counted_and_clear_earlier_failures(editor):
    assert fail(LIMIT - 1, REMOTE_ADDR="192.0.2.30") == [200] * (LIMIT - 1)
    # Logging in never counts, and a success starts the failures of this address and
    # username again from zero.
    for _ in range(LIMIT + 1):
        assert attempt("editor", PASSWORD, REMOTE_ADDR="192.0.2.30").status_code == 302
    assert fail(LIMIT - 1, REMOTE_ADDR="192.0.2.30") == [200] * (LIMIT - 1)
    assert attempt("editor", PASSWORD, REMOTE_ADDR="192.0.2.30").status_code == 302


def test_the_lockout_ends_after_the_cool_off(editor, settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    fail(LIMIT, REMOTE_ADDR="192.0.2.40")
    locked = attempt("editor", PASSWORD, REMOTE_ADDR="192.0.2.40")
    assert locked.status_code == 429 and locked["Retry-After"] == "1"
    time.sleep(2.2)  # Redis expires the counters (its TTLs have second precision)
    assert attempt("editor", PASSWORD, REMOTE_ADDR="192.0.2.40").status_code == 302


def test_the_counts_live_in_the_shared_cache(editor, redis_url):
    fail(1, REMOTE_ADDR="192.0.2.50")
    # Where every web process sees them (keys under this test's prefix).
    assert redis.Redis.from_url(redis_url).keys(f"{cache.key_prefix}*")
