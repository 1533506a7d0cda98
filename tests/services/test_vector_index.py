"""The shared vector index: memory-mapped files every process reads, appended as papers are
embedded, rebuilt from the database when they cannot be trusted."""

import logging
import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pytest
from django.db import connection

from digest.models import Paper, PaperEmbedding
from digest.services.embedding import index as index_service
from digest.services.embedding.index import index_folder, paper_index, refresh_index
from digest.services.embedding.vector_store import (
    ApproximateIndex,
    ExactIndex,
    append,
    fresh,
    publish,
    read_manifest,
    writing,
)
from digest.services.search import related_papers
from digest.services.sources.fetch import replay
from tests.conftest import HF_DAILY, ROOT

pytestmark = pytest.mark.django_db


def _new_process() -> None:
    """What a process started now would see: nothing opened yet."""
    index_service._opened = None


def test_the_approximate_index_answers_what_exact_search_answers(corpus, settings):
    exact = paper_index()
    assert isinstance(exact, ExactIndex) and len(exact) == PaperEmbedding.objects.count()
    settings.DIGEST_INDEX_APPROXIMATE_FROM = 1
    manifest = refresh_index(model_name=settings.DIGEST_EMBEDDING_MODEL)
    assert manifest.graph_count == len(exact)
    approximate = paper_index()
    assert isinstance(approximate, ApproximateIndex)

    ids = sorted(Paper.objects.values_list("pk", flat=True))
    vectors, found = exact.vectors(ids)
    assert found.all()
    hits = 0
    for paper_id, vector in zip(ids, vectors, strict=True):
        wanted = dict(exact.nearest(vector, k=10, exclude={paper_id}))
        got = approximate.nearest(vector, k=10, exclude={paper_id})
        assert len(got) == 10 and paper_id not in dict(got)
        # Every answer carries its exact cosine (re-scored from the float32 rows), best first.
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
        assert np.allclose([s for _, s in got], exact.vectors([pk for pk, _ in got])[0] @ vector)
        hits += len(wanted.keys() & dict(got).keys())
    # HNSW is built by several threads at once, so which near-tie it misses varies from run to
    # run: the same top ten for all but a rare neighbour (bench/scale.py measures recall@10).
    assert hits / (10 * len(ids)) >= 0.99


def test_related_papers_are_the_same_exact_or_approximate(corpus, settings):
    paper = Paper.objects.get(pk="2512.13690")
    exact = [p.pk for p in related_papers(paper=paper)]
    settings.DIGEST_INDEX_APPROXIMATE_FROM = 1
    refresh_index(model_name=settings.DIGEST_EMBEDDING_MODEL)
    assert len(exact) == 5 and [p.pk for p in related_papers(paper=paper)] == exact


def test_a_readers_never_sees_rows_before_they_are_published(tmp_path, corpus_vectors):
    ids = sorted(corpus_vectors)[:4]
    vectors = np.stack([corpus_vectors[pk] for pk in ids])
    with writing(tmp_path):
        manifest = publish(
            tmp_path,
            append(
                tmp_path,
                fresh(tmp_path, model_name="m"),
                ids=ids[:2],
                vectors=vectors[:2],
                cursor=2,
            ),
        )
        appended = append(tmp_path, manifest, ids=ids[2:], vectors=vectors[2:], cursor=4)
        assert len(ExactIndex(tmp_path, read_manifest(tmp_path))) == 2
        publish(tmp_path, appended)
    index = ExactIndex(tmp_path, read_manifest(tmp_path))
    assert len(index) == 4
    assert index.nearest(vectors[3], k=1) == [(ids[3], pytest.approx(1.0, abs=1e-6))]


def test_a_paper_embedded_again_is_found_by_its_new_vector_only(tmp_path, corpus_vectors):
    first, second = sorted(corpus_vectors)[:2]
    old, new = corpus_vectors[first], corpus_vectors[second]
    with writing(tmp_path):
        manifest = append(
            tmp_path, fresh(tmp_path, model_name="m"), ids=[first], vectors=old[None], cursor=1
        )
        # Derived from two recorded papers: the first one's text revised to the second's.
        publish(tmp_path, append(tmp_path, manifest, ids=[first], vectors=new[None], cursor=2))
    index = ExactIndex(tmp_path, read_manifest(tmp_path))
    assert np.array_equal(index.vector(first), new)
    assert index.nearest(old, k=5) == [(first, pytest.approx(float(old @ new), abs=1e-6))]


@pytest.mark.django_db(transaction=True)
def test_a_process_sees_papers_another_process_embedded_without_restarting(settings):
    replay(paths=[HF_DAILY])
    ids = sorted(Paper.objects.values_list("pk", flat=True))
    Paper.objects.exclude(pk__in=ids[:4]).delete()  # 2 CPU cores embed ~20 abstracts/s
    _embed_in_another_process(settings)
    running = paper_index()
    assert len(running) == 4
    generation = read_manifest(index_folder(settings.DIGEST_EMBEDDING_MODEL)).generation

    replay(paths=[HF_DAILY])  # two more papers arrive
    Paper.objects.exclude(pk__in=ids[:6]).delete()
    _embed_in_another_process(settings)

    seen = paper_index()
    assert len(seen) == 6 and seen is not running
    vector = seen.vector(ids[5])
    assert vector is not None and seen.nearest(vector, k=1)[0][0] == ids[5]
    # Appended to the same files, not rebuilt.
    assert read_manifest(index_folder(settings.DIGEST_EMBEDDING_MODEL)).generation == generation


def _embed_in_another_process(settings) -> None:
    url = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/digest"))
    database = urlunsplit(url._replace(path=f"/{connection.settings_dict['NAME']}"))
    environment = {
        **os.environ,
        "DATABASE_URL": database,
        "DIGEST_INDEX_DIR": str(settings.DIGEST_INDEX_DIR),
    }
    subprocess.run(
        [sys.executable, "manage.py", "embed_papers"], cwd=ROOT, env=environment, check=True
    )


def _corrupt_manifest(folder):
    (folder / "manifest.json").write_bytes(b"\x00garbage")


def _delete_vectors(folder):
    (folder / read_manifest(folder).vectors_file).unlink()


def _truncate_vectors(folder):
    os.truncate(folder / read_manifest(folder).vectors_file, 1000)


def _delete_lookup(folder):
    (folder / f"{read_manifest(folder).lookup}.ids.npy").unlink()


def _delete_everything(folder):
    for path in folder.iterdir():
        path.unlink()


@pytest.mark.parametrize(
    "damage",
    [_corrupt_manifest, _delete_vectors, _truncate_vectors, _delete_lookup, _delete_everything],
)
def test_a_damaged_index_is_rebuilt_from_the_database(corpus, client, caplog, settings, damage):
    paper = Paper.objects.get(pk="2512.13690")
    related = [p.pk for p in related_papers(paper=paper)]
    folder = index_folder(settings.DIGEST_EMBEDDING_MODEL)
    damage(folder)
    _new_process()

    with caplog.at_level(logging.INFO, logger="digest.services.embedding.index"):
        response = client.get(f"/papers/{paper.pk}/")
    assert response.status_code == 200
    assert [p.pk for p in related_papers(paper=paper)] == related
    assert any("building it from the database" in r.getMessage() for r in caplog.records)
    assert len(paper_index()) == PaperEmbedding.objects.count()


def test_a_damaged_graph_is_rebuilt(corpus, caplog, settings):
    settings.DIGEST_INDEX_APPROXIMATE_FROM = 1
    manifest = refresh_index(model_name=settings.DIGEST_EMBEDDING_MODEL)
    folder = index_folder(settings.DIGEST_EMBEDDING_MODEL)
    (folder / f"{manifest.graph}.usearch").write_bytes(b"not a graph")
    _new_process()
    with caplog.at_level(logging.WARNING, logger="digest.services.embedding.index"):
        assert isinstance(paper_index(), ExactIndex)
    assert any("rebuilding it from the database" in r.getMessage() for r in caplog.records)
    # The embed worker's next run builds the graph again.
    refresh_index(model_name=settings.DIGEST_EMBEDDING_MODEL)
    assert isinstance(paper_index(), ApproximateIndex)
