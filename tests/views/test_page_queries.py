"""The home page reads a day's papers through indexes: no query walks every paper."""

import re
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from digest.services.papers import days_with_papers

pytestmark = pytest.mark.django_db
PAPER_TABLE = re.compile(r" on digest_paper(?: |$)")
CATEGORY_MENU = 'SELECT DISTINCT "digest_category"."term"'
NARROWING = re.compile(r"Cond: .*\b(?:published|featured_on|arxiv_id)\b")
HIDDEN_ONLY = re.compile(r"\bpaper_hidden\b")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _subtree(lines: list[str], i: int) -> list[str]:
    """The lines of plan node `i`: its conditions and, for a bitmap scan, its index scans."""
    inner = []
    for line in lines[i + 1 :]:
        if _indent(line) <= _indent(lines[i]):
            break
        inner.append(line)
    return inner


def _full_paper_scans(sql: str) -> list[str]:
    """The plan's scans of the paper table that read all of it (or all visible papers): those
    without an index condition on when a paper is from or which it is. Sequential scans are
    off, so that PostgreSQL takes an index whenever one serves, whatever the table's size."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        lines = [row[0] for row in cursor.fetchall()]
    scans = []
    for i, line in enumerate(lines):
        if not PAPER_TABLE.search(line):
            continue
        below = " ".join(_subtree(lines, i))
        # Newest first along an index, stopped by the LIMIT: reads a row, not the table.
        stops_early = "Index" in line and lines[i - 1].lstrip().startswith("Limit")
        # Through the partial index of hidden papers: reads the few hidden ones only.
        hidden_only = HIDDEN_ONLY.search(f"{line} {below}")
        if not NARROWING.search(below) and not stops_early and not hidden_only:
            scans.append(line.strip())
    return scans


@pytest.mark.parametrize(
    "query", ["", "?window=month", "?day=2025-12-15", "?day=2026-06-12&has_code=true"]
)
def test_the_home_page_never_reads_every_paper(client, corpus, query):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"/{query}").status_code == 200
    # The captured SQL has its parameters in place: EXPLAIN it as the page ran it.
    # The category menu is not the day's read: it lists categories of any visible paper.
    selects = {
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT") and not q["sql"].startswith(CATEGORY_MENU)
    }
    scans = {sql: _full_paper_scans(sql) for sql in selects if "digest_paper" in sql}
    assert scans and not {sql: plan for sql, plan in scans.items() if plan}


def test_the_day_list_reaches_back_past_its_first_window(corpus):
    # The corpus's December days are half a year before its newest: the window must widen.
    days = days_with_papers()
    assert days[0] == date(2026, 6, 12)
    assert date(2025, 12, 15) in days
    assert days == sorted(days, reverse=True)
    assert days_with_papers(limit=1) == [date(2026, 6, 12)]
