"""One run at a time of the scheduled tasks, through the shared cache (Redis here)."""

import time

import pytest

from digest.models import IngestionRun
from tasks.ingest import fetch_arxiv
from tasks.locks import single_run


def test_a_second_run_is_refused_until_the_first_ends(redis_cache):
    with single_run("job", expires_seconds=60) as first:
        with single_run("job", expires_seconds=60) as second:
            assert (first, second) == (True, False)
        # The refused run leaves the holder's lock alone.
        with single_run("job", expires_seconds=60) as third:
            assert third is False
    with single_run("job", expires_seconds=60) as after:
        assert after is True


def test_a_run_that_fails_releases_the_lock(redis_cache):
    with pytest.raises(RuntimeError), single_run("job", expires_seconds=60):
        raise RuntimeError("the run broke")
    with single_run("job", expires_seconds=60) as again:
        assert again is True


def test_a_lock_whose_holder_died_expires(redis_cache):
    holder = single_run("job", expires_seconds=1)
    assert holder.__enter__() is True  # and its worker dies: never released
    time.sleep(1.5)
    with single_run("job", expires_seconds=60) as next_run:
        assert next_run is True


def test_a_run_that_outlasted_its_lock_leaves_the_next_runs_lock_alone(redis_cache):
    with single_run("job", expires_seconds=1) as slow:
        assert slow is True
        time.sleep(1.5)  # the lock expired while this run went on
        next_run = single_run("job", expires_seconds=60)
        assert next_run.__enter__() is True
    # The slow run ended: the lock is still the next run's, so a third one waits.
    with single_run("job", expires_seconds=60) as third:
        assert third is False
    next_run.__exit__(None, None, None)
    with single_run("job", expires_seconds=60) as after:
        assert after is True


@pytest.mark.django_db
def test_an_arxiv_fetch_while_another_runs_sends_no_request(redis_cache, arxiv_upstream):
    with single_run("fetch_arxiv", expires_seconds=60):
        assert fetch_arxiv.apply().get() is None
    assert arxiv_upstream.requests == []
    assert not IngestionRun.objects.exists()
