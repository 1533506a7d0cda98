"""The digest as it is composed for sending (each paper's block rendered once per day and
process, each template once with the reader's values filled in, the MIME message written in
one pass) against the straightforward rendering (`compiled=False`: every template rendered by
Django for the reader, the message built by Django's MIME classes): the same bytes, on the
recorded papers and on hostile text."""

import re
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.models import CodeLink, Delivery, DeliveryItem, Paper, Subscriber
from digest.services import delivery
from digest.services.emails.compose import digest_message
from digest.services.sources.fetch import replay
from tests.conftest import HF_DAILY
from tests.security.test_hostile_properties import HOSTILE_TEXT, TITLES

pytestmark = pytest.mark.django_db
DAY = date(2026, 6, 12)
BOUNDARY = re.compile(rb"={15}\d{19}==(\.\d+)?")
# Made per message: a random id, the clock.
PER_MESSAGE = re.compile(rb"(?m)^(Message-ID|Date): [^\r\n]*")
READERS = [
    "video generation, diffusion models",
    "LLM agents, tool use",
    "point cloud transformers",
    "quantum chemistry of ice",  # nothing matches: the trending section alone
]


def _bytes(message) -> bytes:
    raw = message.message().as_bytes(linesep="\r\n")
    return BOUNDARY.sub(b"BOUNDARY", PER_MESSAGE.sub(rb"\1: -", raw))


def _loaded(delivery_ids: list[int]) -> list[Delivery]:
    """The deliveries with their items, papers and code links, as a chunk loads them."""
    return list(
        Delivery.objects.filter(pk__in=delivery_ids)
        .select_related("subscriber")
        .prefetch_related("items__paper__code_links")
        .order_by("pk")
    )


def assert_same_as_straightforward(
    sent: Delivery, *, reference: Delivery | None = None, tries: int = 3
) -> bytes:
    """`sent` composed for sending gives the bytes of `reference` (by default itself) rendered
    the straightforward way."""
    # Signed links carry the second they were signed in: the composed digest was made between
    # two references, so it equals one of them, unless the three renderings (of 100 KB titles
    # on a loaded machine) spanned two changes of the second; a real difference stays.
    reference = reference or sent
    for _ in range(tries):
        before = _bytes(digest_message(delivery=reference, compiled=False))
        composed = _bytes(digest_message(delivery=sent))
        after = _bytes(digest_message(delivery=reference, compiled=False))
        if composed in (before, after):
            return composed
    assert composed == after
    return composed


@pytest.fixture
def site(settings):
    settings.SITE_URL = "https://digest.example.org"


def test_digests_of_the_recorded_papers_are_the_straightforward_bytes(corpus, site):
    readers = [
        Subscriber.objects.create(
            email=f"reader{i}@example.org",
            status=Subscriber.Status.ACTIVE,
            interests=interests,
            send_when_empty=True,
        )
        for i, interests in enumerate(READERS)
    ]
    ids = delivery.plan(day=DAY, subscriber_ids=[reader.pk for reader in readers])
    messages = [assert_same_as_straightforward(sent) for sent in _loaded(ids)]
    assert len(messages) == len(READERS)
    # The readers' own sections, with and without "For you", and code links among them.
    assert all(b"TRENDING TODAY" in message for message in messages)
    assert b"FOR YOU" in messages[0]
    assert b"Nothing matched your interests today" in messages[-1]
    assert any(b"Code: " in message for message in messages)


def test_a_paper_changed_since_its_block_was_rendered_shows_as_it_is_now(corpus, site):
    reader = Subscriber.objects.create(
        email="ada@example.org", status=Subscriber.Status.ACTIVE, interests=READERS[0]
    )
    (sent,) = _loaded(delivery.plan(day=DAY, subscriber_ids=[reader.pk]))
    digest_message(delivery=sent)
    first = sent.items.all()[0].paper_id
    # An editor's correction that bypasses save() (no changed_at), and a new code link.
    Paper.objects.filter(pk=first).update(title="A corrected title")
    CodeLink.objects.create(
        paper_id=first, url="https://github.com/example/fixed", source=CodeLink.Source.ADMIN
    )
    (reloaded,) = _loaded([sent.pk])
    composed = assert_same_as_straightforward(reloaded)
    assert b"A corrected title" in composed
    assert b"https://github.com/example/fixed" in composed


@pytest.fixture
def hostile_day(settings):
    settings.SITE_URL = "https://digest.example.org"
    replay(paths=[HF_DAILY])  # recorded papers, their text replaced in each example
    return list(Paper.objects.order_by("pk")[:3])


# PostgreSQL stores no NUL (ingestion drops it); every other hostile character stays.
HOSTILE = st.one_of(TITLES, HOSTILE_TEXT).map(lambda text: text.replace("\x00", ""))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    titles=st.lists(HOSTILE, min_size=3, max_size=3),
    authors=st.lists(HOSTILE, min_size=1, max_size=3),
    summary=HOSTILE,
    why=HOSTILE,
    local=st.sampled_from(["ada", "o'brien", "ünï", "a.b+c"]),
)
def test_hostile_titles_and_why_lines_give_the_straightforward_bytes(
    hostile_day, titles, authors, summary, why, local
):
    reader = Subscriber.objects.create(
        email=f"{local}@example.org", status=Subscriber.Status.ACTIVE, interests="agents"
    )
    try:
        sent = Delivery.objects.create(subscriber=reader, local_date=DAY)
        sections = [DeliveryItem.Section.FOR_YOU, DeliveryItem.Section.TRENDING] * 2
        for position, (paper, title) in enumerate(zip(hostile_day, titles, strict=True)):
            Paper.objects.filter(pk=paper.pk).update(
                title=title, authors=authors, ai_summary=summary
            )
            DeliveryItem.objects.create(
                delivery=sent,
                paper=paper,
                position=position,
                score=1,
                why=why,
                section=sections[position],
            )
        (loaded,) = _loaded([sent.pk])
        assert_same_as_straightforward(loaded)
    finally:
        reader.delete()
