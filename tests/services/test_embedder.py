"""The embedder: device choice, paper text, and the fast path agreeing with plain
sentence-transformers. Uses the bundled model on the CPU (about 50 ms per abstract here)."""

from pathlib import Path

import defusedxml.ElementTree as ElementTree
import numpy as np
import pytest
import torch

from digest.services.embedding import embedder as module
from digest.services.embedding.embedder import (
    DEFAULT_MODEL,
    Embedder,
    get_embedder,
    paper_text,
    resolve_device,
    resolve_model_path,
)

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV_PAGE = Path(__file__).resolve().parents[2].parent / "shared/data/arxiv/cs_query_start0.xml"


def arxiv_texts(n: int) -> list[str]:
    entries = ElementTree.parse(ARXIV_PAGE).getroot().iter(f"{ATOM}entry")
    return [
        paper_text(title=entry.findtext(f"{ATOM}title"), abstract=entry.findtext(f"{ATOM}summary"))
        for entry, _ in zip(entries, range(n), strict=False)
    ]


# Real abstracts, plus the edges: past max_seq_length (truncated), one word, empty, non-ASCII.
TEXTS = [
    *arxiv_texts(12),
    " ".join(arxiv_texts(3)),
    "transformers",
    "",
    "Détection d'objets 3D — 自动驾驶 with ∇-free optimisation",
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(model_name=DEFAULT_MODEL, device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def ours(embedder) -> np.ndarray:
    return embedder.encode(TEXTS)


def test_matches_plain_sentence_transformers(embedder, ours):
    from sentence_transformers import SentenceTransformer

    plain = SentenceTransformer(resolve_model_path(DEFAULT_MODEL), device="cpu").encode(
        TEXTS, batch_size=4, normalize_embeddings=True
    )
    cosine = (ours * plain).sum(axis=1)
    assert np.abs(1.0 - cosine).max() < 1e-5


def test_truncates_at_the_models_limit(embedder):
    assert embedder.max_seq_length == 256
    assert len(embedder._tokenizer.encode(TEXTS[12]).ids) == 256
    lengths = embedder.token_lengths(TEXTS[11:15])
    assert lengths[1] > 256 and lengths.tolist()[2:] == [3, 2]  # [CLS] transformers [SEP]


def test_output_is_contiguous_unit_float32_in_input_order(embedder, ours):
    assert ours.shape == (len(TEXTS), embedder.dim) == (len(TEXTS), 384)
    assert ours.dtype == np.float32 and ours.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)
    shuffled = [7, 0, 15, 3, 12, 9]
    np.testing.assert_allclose(
        embedder.encode([TEXTS[i] for i in shuffled]), ours[shuffled], atol=1e-5
    )


def test_batch_size_does_not_change_the_vectors(ours):
    one_by_one = Embedder(device="cpu", batch_size=1).encode(TEXTS[:5])
    np.testing.assert_allclose(one_by_one, ours[:5], atol=1e-5)


def test_gpu_style_padding_leaves_the_vectors_unchanged(ours):
    padded = Embedder(device="cpu", batch_size=4)
    padded._pad_multiple = module.GPU_PAD_MULTIPLE  # what a CUDA device gets
    assert padded._padded_length(200) == 224 and padded._padded_length(250) == 256
    np.testing.assert_allclose(padded.encode(TEXTS), ours, atol=1e-5)


def test_empty_input(embedder):
    empty = embedder.encode([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32


def test_progress_counts_every_text(embedder):
    done = []
    embedder.encode(TEXTS[:9], progress=done.append)
    assert sum(done) == 9 and len(done) == 3


def test_get_embedder_loads_the_model_once_per_process():
    first = get_embedder(model_name=DEFAULT_MODEL, device="cpu", batch_size=8)
    assert get_embedder(model_name=DEFAULT_MODEL, device="auto", batch_size=8) is first
    other_batch = get_embedder(model_name=DEFAULT_MODEL, device="cpu", batch_size=2)
    assert other_batch.batch_size == 2 and other_batch._model is first._model


def test_a_failing_producer_surfaces_in_the_caller():
    def broken():
        yield 1
        raise RuntimeError("tokenizer exploded")

    consumed = []
    with pytest.raises(RuntimeError, match="tokenizer exploded"):
        consumed.extend(module._in_background(broken(), depth=1))
    assert consumed == [1]


def test_leaving_early_stops_the_producer():
    stream = module._in_background((n for n in range(1_000_000)), depth=2)
    assert next(stream) == 0
    stream.close()  # joins the producer thread: would hang if it stayed blocked on a full queue


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, no_gpu):
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device() == "cuda"


@pytest.mark.parametrize(
    ("preference", "message"),
    [
        ("tpu", "unknown device"),
        ("meta", "unsupported device"),
        ("cuda", "no such CUDA"),
        ("mps", "MPS"),
    ],
)
def test_unknown_or_missing_devices_are_refused(no_gpu, preference, message):
    with pytest.raises(ValueError, match=message):
        resolve_device(preference)


def test_missing_cuda_index_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == "cuda:0"
    with pytest.raises(ValueError, match="no such CUDA"):
        resolve_device("cuda:1")


def test_model_names():
    assert (Path(resolve_model_path(DEFAULT_MODEL)) / "modules.json").is_file()
    assert resolve_model_path("sentence-transformers/all-mpnet-base-v2").endswith("mpnet-base-v2")
    assert resolve_model_path("/models/mine") == "/models/mine"


@pytest.mark.parametrize(
    ("title", "abstract", "expected"),
    [
        (
            "Attention Is All\n  You Need",
            " We propose\n the Transformer. ",
            "Attention Is All You Need. We propose the Transformer.",
        ),
        ("Why Scale?", "Because.", "Why Scale? Because."),
        ("Only a title", "", "Only a title"),
        ("", "Only an abstract", "Only an abstract"),
    ],
)
def test_paper_text(title, abstract, expected):
    assert paper_text(title=title, abstract=abstract) == expected
