"""Property tests of issue 18 on PostgreSQL: generated hostile values (NUL and control
characters, invalid UTF-8 escapes, 100 KB strings, several values for one scalar) sent to every
HTML page, form and query parameter never give a 5xx or a logged traceback; and hostile
addresses, names and titles through every email we build give messages that Python's strict
email parser reads with their headers intact."""

import logging
from datetime import date
from email import message_from_bytes, policy
from urllib.parse import quote

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.models import Delivery, DeliveryItem, Paper, Subscriber
from digest.services import subscriptions
from digest.services.emails.compose import (
    already_subscribed_message,
    confirmation_message,
    digest_message,
)
from digest.services.sources.fetch import replay
from tests.conftest import HF_DAILY

pytestmark = pytest.mark.django_db
DAY = date(2026, 6, 12)
FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

HOSTILE_TEXT = st.one_of(
    st.sampled_from(["\x00", "a\x00b", "\r\nX-Injected: 1", "\x0b", "\ufeff", "[]", "{}"]),
    st.text(max_size=40),
    st.text(
        alphabet=st.sampled_from("\x00\x01\x0b\x1b\x7f\x85\u2028\r\n\t %&=;:/.\\\"'<>é"),
        max_size=40,
    ),
    st.just("x" * 100_000),
    st.sampled_from(["2026-06-12", "0", "-1", "99999999999999999999", "cs.CV", "1"]),
)
# Query-string pieces as a client may send them: escaped text, or escapes of raw bytes that
# are no UTF-8 at all.
ESCAPED = st.one_of(
    st.sampled_from(["%00", "a%00b", "%0D%0AX-Injected:%201"]),
    HOSTILE_TEXT.map(quote),
    st.binary(max_size=12).map(lambda raw: "".join(f"%{byte:02X}" for byte in raw)),
)
QUERY_NAMES = ["q", "category", "has_code", "day", "page", "from", "to", "papers", "token"]
FORM_NAMES = ["email", "interests", "categories", "delivery_hour", "timezone", "digest_size",
              "action", "reason", "List-Unsubscribe"]  # fmt: skip


@pytest.fixture
def site(settings_fixture):
    replay(paths=[HF_DAILY])
    paper = Paper.objects.order_by("pk").first()
    reader = Subscriber.objects.create(
        email="ada@example.org", status=Subscriber.Status.ACTIVE, interests="agents"
    )
    sent = Delivery.objects.create(subscriber=reader, local_date=DAY)
    DeliveryItem.objects.create(delivery=sent, paper=paper, position=0, score=0.5)
    feedback = subscriptions.feedback_token(subscriber=reader, delivery_id=sent.pk)
    return [
        "/",
        "/search",
        f"/papers/{paper.pk}/",
        f"/papers/{paper.pk}/report/",
        "/subscribe",
        f"/subscribe/confirm/{subscriptions.confirm_token(subscriber_id=reader.pk)}/",
        f"/preferences/{subscriptions.preferences_token(subscriber=reader)}/",
        f"/unsubscribe/{subscriptions.unsubscribe_token(subscriber=reader)}/",
        f"/feedback/{feedback}/{paper.pk}/more/",
        f"/digests/{DAY}/",
        "/feeds/trending.rss",
        "/feeds/category/cs.CV.atom",
    ]


@pytest.fixture
def settings_fixture(settings):
    # Limits high enough that every example reaches the code under test.
    settings.SEARCH_RATE = settings.REPORT_RATE = "100000/minute"
    settings.SUBSCRIBE_RATE_LIMIT = 100_000
    return settings


class Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def tracebacks():
    handler = Tracebacks()
    logging.getLogger().addHandler(handler)
    yield handler.records
    logging.getLogger().removeHandler(handler)


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURES)
@given(
    page=st.integers(min_value=0, max_value=11),
    path_part=st.one_of(st.none(), ESCAPED),
    params=st.lists(st.tuples(st.sampled_from(QUERY_NAMES + FORM_NAMES), ESCAPED), max_size=12),
    post=st.booleans(),
)
def test_hostile_values_on_any_page_never_give_a_5xx_or_a_traceback(
    client, site, tracebacks, page, path_part, params, post
):
    path = site[page]
    if path_part is not None:  # a hostile value in place of the page's last path segment
        path = path.rstrip("/").rsplit("/", 1)[0] + f"/{path_part}/"
    body = "&".join(f"{name}={value}" for name, value in params)
    if post:
        response = client.post(path, body, content_type="application/x-www-form-urlencoded")
    else:
        response = client.get(f"{path}?{body}")
    assert response.status_code < 500, (path, body)
    assert not [r for r in tracebacks if r.exc_info], (path, body)


# --- Emails -----------------------------------------------------------------------------

ADDRESS_LOCAL = st.text(
    alphabet=st.sampled_from("ab.+-_'\"\\ \x00\x0b\r\n\t:;<>,@()[]é\x7f"), min_size=1, max_size=20
)
ADDRESSES = st.one_of(
    st.builds(lambda local: f"{local}@example.org", ADDRESS_LOCAL),
    st.builds(lambda local: f'"{local}"@example.org', ADDRESS_LOCAL),
    st.emails(),
)
TITLES = st.text(
    alphabet=st.sampled_from("Ab \r\n\t\x0b\x1b\x85\u2028\u2029:;=?<>\"'é€\U0001d518"),
    min_size=1,
    max_size=300,
)


@pytest.fixture
def digest_day(settings):
    settings.SITE_URL = "https://digest.example.org"
    replay(paths=[HF_DAILY])
    return list(Paper.objects.order_by("pk")[:3])


def _assert_intact(message, *, to: str, digest: bool) -> None:
    parsed = message_from_bytes(message.message().as_bytes(), policy=policy.strict)
    assert parsed.get_all("To") == [to]
    for name in ("From", "Subject", "Date", "Message-ID"):
        assert len(parsed.get_all(name)) == 1, name
    assert parsed["Bcc"] is None and parsed["Cc"] is None
    assert ("List-Unsubscribe" in parsed) is digest
    if digest:
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURES)
@given(address=ADDRESSES, titles=st.lists(TITLES, min_size=3, max_size=3), author=TITLES)
def test_hostile_addresses_and_titles_never_break_an_emails_headers(
    digest_day, address, titles, author
):
    try:
        subscriptions.validate_address(address.strip().lower())
    except ValidationError:
        return  # refused at the form and in the service: never stored, never mailed
    email = address.strip().lower()
    reader = Subscriber.objects.create(
        email=email, status=Subscriber.Status.ACTIVE, interests="agents"
    )
    try:
        for compose in (confirmation_message, already_subscribed_message):
            _assert_intact(compose(subscriber=reader), to=email, digest=False)
        sent = Delivery.objects.create(subscriber=reader, local_date=DAY)
        for position, (paper, title) in enumerate(zip(digest_day, titles, strict=True)):
            Paper.objects.filter(pk=paper.pk).update(title=title, authors=[author])
            DeliveryItem.objects.create(delivery=sent, paper=paper, position=position, score=1)
        sent = Delivery.objects.select_related("subscriber").get(pk=sent.pk)
        _assert_intact(digest_message(delivery=sent), to=email, digest=True)
    finally:
        reader.delete()
