"""Data migrations, run on PostgreSQL from the state before them."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection
from django.db.migrations.executor import MigrationExecutor

from digest.models import CodeLink
from digest.services.sources.huggingface import parse_daily_papers
from tests.conftest import HF_DAILY

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("digest", "0002_service_models")]
AFTER = [("digest", "0004_codelink_lower_unique")]


@pytest.fixture
def old_apps():
    """The models as of BEFORE; the database is migrated forward again afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor.loader.project_state(BEFORE).apps
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("digest"))


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

    MigrationExecutor(connection).migrate(AFTER)

    kept = CodeLink.objects.get(paper_id=paper.pk, url__iexact="https://github.com/sap/toolsense")
    assert (kept.pk, kept.url, kept.source) == (hf.pk, "https://github.com/SAP/toolsense", "hf")
    assert (kept.stars, kept.stars_checked_at) == (41, _at(9))  # the latest reading
    assert list(kept.snapshots.order_by("taken_at").values_list("stars", flat=True)) == [39, 40, 41]
    assert CodeLink.objects.filter(pk=other.pk).exists()
    with pytest.raises(IntegrityError):
        CodeLink.objects.create(
            paper_id=paper.pk, url="https://github.com/Sap/ToolSense", source="comment", **repo
        )
