"""`manage.py fetch_papers` as an operator runs it: summaries, exit status, one-line errors."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from digest.models import IngestionRun, Paper
from tests.conftest import ARXIV_PAGES, ARXIV_RSS_TRUNCATED, DATA_DIR, HF_DAILY

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_replay_prints_one_summary_line_per_source(capsys):
    call_command("fetch_papers", "--replay", str(DATA_DIR / "arxiv"), str(HF_DAILY))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"arxiv ({ARXIV_PAGES[0]}): 100 new, 0 updated, 0 unchanged"
    assert lines[-1] == f"huggingface ({HF_DAILY}): 30 new, 0 updated, 0 unchanged"
    assert Paper.objects.count() == 430


def test_damaged_input_exits_non_zero_naming_source_and_problem(capsys):
    call_command("fetch_papers", "--replay", *map(str, ARXIV_PAGES))
    with pytest.raises(CommandError, match="1 of 1 sources had problems"):
        call_command("fetch_papers", "--replay", str(ARXIV_RSS_TRUNCATED))
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: arxiv-rss: malformed XML at line 1233, column 84; "
        "kept the 86 complete entries before it"
    )
    assert Paper.objects.count() == 386


def test_a_missing_path_is_a_clear_error():
    with pytest.raises(CommandError, match="replay: no such file or folder: /nope"):
        call_command("fetch_papers", "--replay", "/nope")


def test_bad_since_is_refused():
    with pytest.raises(CommandError, match="argument --since: expects a date as YYYY-MM-DD"):
        call_command("fetch_papers", "--since", "yesterday")


def test_live_fetch_of_both_sources(arxiv_upstream, hf_upstream, capsys):
    call_command("fetch_papers", "--source", "all", "--since", "2026-06-12")
    out = capsys.readouterr().out
    assert "huggingface" in out and "30 new" in out
    assert IngestionRun.objects.filter(status=IngestionRun.Status.OK).count() == 2


def test_offline_fallback_says_so_and_replays(settings, tmp_path, capsys):
    settings.ARXIV_API_URL = "http://127.0.0.1:9/api/query"  # discard port: nothing listens
    settings.DIGEST_REPLAY_DIR = DATA_DIR / "huggingface"
    call_command("fetch_papers", "--offline-fallback")
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("No network: http://127.0.0.1:9/api/query is unreachable; replaying")
    assert Paper.objects.count() == 30


@pytest.mark.django_db(transaction=True)
def test_the_real_command_exits_1_with_one_error_line(tmp_path, subprocess_env):
    broken = tmp_path / "daily.json"
    broken.write_bytes(HF_DAILY.read_bytes()[:3000])
    result = subprocess.run(
        [sys.executable, "manage.py", "fetch_papers", "--replay", str(broken)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=120,
    )
    assert result.returncode == 1
    error_line = result.stderr.splitlines()[0]
    assert error_line.startswith("error: huggingface: invalid JSON at line ")
    assert IngestionRun.objects.get().status == IngestionRun.Status.FAILED


@pytest.mark.django_db(transaction=True)
def test_the_quick_start_replay_is_calm_about_the_recording_damaged_on_purpose(subprocess_env):
    # What `make run` does without network: the recordings replayed, the cut-off one among them.
    env = {**subprocess_env, "ARXIV_API_URL": "http://127.0.0.1:9/api/query"}
    result = subprocess.run(
        [sys.executable, "manage.py", "fetch_papers", "--offline-fallback"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**env, "DIGEST_REPLAY_DIR": str(DATA_DIR)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower() and "error" not in result.stdout.lower()
    (line,) = [line for line in result.stdout.splitlines() if "truncated" in line]
    assert line.endswith(
        "86 new, 0 updated, 0 unchanged; damaged on purpose, to show bad input handled: "
        "malformed XML at line 1233, column 84; kept the 86 complete entries before it"
    )
