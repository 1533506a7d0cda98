"""Data migrations, run on PostgreSQL from the state before them."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection
from django.db.migrations.executor import MigrationExecutor

from digest.models import CodeLink, Paper, Subscriber
from digest.services.send_times import local_date, send_at
from digest.services.sources.huggingface import parse_daily_papers
from tests.conftest import HF_DAILY

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("digest", "0002_service_models")]
AFTER = [("digest", "0004_codelink_lower_unique")]


def _migrated_back(before: list[tuple[str, str]]) -> Iterator:
    """The models as of `before`; the database is migrated forward again afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    yield executor.loader.project_state(before).apps
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("digest"))


@pytest.fixture
def old_apps():
    yield from _migrated_back(BEFORE)


@pytest.fixture
def apps_before_code_status():
    yield from _migrated_back([("digest", "0010_upstream_text")])


@pytest.fixture
def apps_before_send_times():
    yield from _migrated_back([("digest", "0005_subscriber_link_generation")])


def _at(hour: int) -> datetime:
    return datetime(2026, 6, 12, hour, tzinfo=UTC)


def test_links_differing_only_in_case_merge_into_the_best_sources(old_apps):
    Paper = old_apps.get_model("digest", "Paper")
    CodeLink_ = old_apps.get_model("digest", "CodeLink")
    StarSnapshot = old_apps.get_model("digest", "StarSnapshot")
    # The recorded paper whose repository Hugging Face spells SAP/toolsense.
    record = next(
        r.paper
        for r in parse_daily_papers(HF_DAILY.read_bytes()).records
        if r.github_repo == "https://github.com/SAP/toolsense"
    )
    paper = Paper.objects.create(
        arxiv_id=record.arxiv_id,
        title=record.title,
        published=record.published,
        updated=record.updated,
        abs_url=record.abs_url,
        pdf_url=record.pdf_url,
    )
    repo = {"host": "github.com", "name": "toolsense"}
    text = CodeLink_.objects.create(
        paper=paper, url="https://github.com/sap/toolsense", owner="sap", source="abstract", **repo
    )
    hf = CodeLink_.objects.create(
        paper=paper, url="https://github.com/SAP/toolsense", owner="SAP", source="hf", **repo
    )
    other = CodeLink_.objects.create(
        paper=paper, url="https://github.com/SAP/other", owner="SAP", source="comment", **repo
    )
    for link, stars, hour in [(hf, 40, 8), (text, 41, 9), (hf, 39, 7)]:
        StarSnapshot.objects.create(code_link=link, stars=stars, taken_at=_at(hour))
    CodeLink_.objects.filter(pk=text.pk).update(stars=41, stars_checked_at=_at(9))
    CodeLink_.objects.filter(pk=hf.pk).update(stars=40, stars_checked_at=_at(8))

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    # The model as of AFTER: fields added by later migrations are not there yet.
    CodeLink = executor.loader.project_state(AFTER).apps.get_model("digest", "CodeLink")

    kept = CodeLink.objects.get(paper_id=paper.pk, url__iexact="https://github.com/sap/toolsense")
    assert (kept.pk, kept.url, kept.source) == (hf.pk, "https://github.com/SAP/toolsense", "hf")
    assert (kept.stars, kept.stars_checked_at) == (41, _at(9))  # the latest reading
    assert list(kept.snapshots.order_by("taken_at").values_list("stars", flat=True)) == [39, 40, 41]
    assert CodeLink.objects.filter(pk=other.pk).exists()
    with pytest.raises(IntegrityError):
        CodeLink.objects.create(
            paper_id=paper.pk, url="https://github.com/Sap/ToolSense", source="comment", **repo
        )


def test_existing_readers_get_a_send_instant_without_a_second_digest_today(
    apps_before_send_times,
):
    Subscriber_ = apps_before_send_times.get_model("digest", "Subscriber")
    Delivery_ = apps_before_send_times.get_model("digest", "Delivery")
    fields = {"status": "active", "delivery_hour": 8, "timezone": "Asia/Tokyo"}
    waiting = Subscriber_.objects.create(email="waiting@example.org", **fields)
    served = Subscriber_.objects.create(email="served@example.org", **fields)
    today = local_date(instant=datetime.now(UTC), zone_name="Asia/Tokyo")
    Delivery_.objects.create(subscriber=served, local_date=today, state="sent")

    MigrationExecutor(connection).migrate([("digest", "0007_fill_next_digest_at")])

    at = dict(Subscriber.objects.values_list("email", "next_digest_at"))
    tomorrow = today + timedelta(days=1)
    assert at[waiting.email] == send_at(day=today, hour=8, zone_name="Asia/Tokyo")
    assert at[served.email] == send_at(day=tomorrow, hour=8, zone_name="Asia/Tokyo")


@pytest.fixture
def apps_before_decoding():
    yield from _migrated_back([("digest", "0009_reader_facets")])


def test_papers_stored_before_decoding_are_decoded_and_keep_their_upstream_text(
    apps_before_decoding,
):
    from digest.models import Paper
    from digest.services.sources.recorded import parse_recorded
    from tests.conftest import ARXIV_PAGES, ARXIV_RSS_TRUNCATED

    OldPaper = apps_before_decoding.get_model("digest", "Paper")
    # Two recorded papers as the old ingestion stored them: LaTeX as upstream sent it.
    named = next(
        r for r in parse_recorded(ARXIV_RSS_TRUNCATED.read_bytes()).records
        if any("\\" in author for author in r.authors)
    )  # fmt: skip
    math = next(r for r in parse_recorded(ARXIV_PAGES[0].read_bytes()).records if "$" in r.abstract)
    for record in (named, math):
        OldPaper.objects.create(
            arxiv_id=record.arxiv_id, title=record.title, abstract=record.abstract,
            authors=list(record.authors), comment=record.comment, published=record.published,
            updated=record.updated, abs_url=record.abs_url, pdf_url=record.pdf_url,
        )  # fmt: skip
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("digest"))
    decoded = Paper.objects.get(pk=named.arxiv_id)
    assert not any("\\" in author for author in decoded.authors)
    assert decoded.upstream["authors"] == list(named.authors)
    kept = Paper.objects.get(pk=math.arxiv_id)
    assert "$" in kept.abstract and kept.upstream["abstract"] == math.abstract


def test_existing_papers_get_their_code_status(apps_before_code_status):
    Paper_ = apps_before_code_status.get_model("digest", "Paper")
    CodeLink_ = apps_before_code_status.get_model("digest", "CodeLink")
    records = {r.paper.arxiv_id: r for r in parse_daily_papers(HF_DAILY.read_bytes()).records}
    now = datetime.now(UTC)

    def paper(arxiv_id: str, *, age_days: int, abstract: str | None = None):
        record = records[arxiv_id].paper
        return Paper_.objects.create(
            arxiv_id=arxiv_id,
            title=record.title,
            abstract=record.abstract if abstract is None else abstract,
            published=now - timedelta(days=age_days),
            updated=now - timedelta(days=age_days),
            abs_url=record.abs_url,
            pdf_url=record.pdf_url,
        )

    coded = paper("2606.13392", age_days=3)  # the recorded MiniMax Sparse Attention
    link = CodeLink_.objects.create(
        paper=coded, url="https://github.com/MiniMax-AI/MSA", host="github.com", owner="MiniMax-AI",
        name="MSA", source="hf",
    )  # fmt: skip
    # Derived from a recorded abstract: its closing sentence made a promise.
    promise = "Code and models will be publicly available."
    promised = f"{records['2606.11409'].paper.abstract} {promise}"
    announced = paper("2606.11409", age_days=3, abstract=promised)
    young = paper("2606.12282", age_days=30)
    old = paper("2606.11096", age_days=400)

    MigrationExecutor(connection).migrate([("digest", "0011_code_status")])

    papers = {p.pk: p for p in Paper.objects.all()}
    assert papers[coded.pk].code_status == "released"
    created = CodeLink.objects.get(pk=link.pk).created_at
    assert papers[coded.pk].code_released_at == created
    assert papers[coded.pk].code_next_check_at is None
    assert papers[announced.pk].code_status == "announced"
    assert papers[young.pk].code_status == "none"
    # Not released and younger than six months: due for a first check at once.
    assert papers[announced.pk].code_next_check_at is not None
    assert papers[young.pk].code_next_check_at is not None
    assert papers[old.pk].code_next_check_at is None
