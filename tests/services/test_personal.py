"""Personal ranking on hand-checkable cases, and its invariants on random ones."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.services.ranking.personal import (
    DISLIKED,
    LIKED,
    TOPIC,
    RocchioWeights,
    _select_pool,
    interest_vector,
    interest_vectors,
    rank_for_subscribers,
)

E = torch.eye(4)
R = 1 / math.sqrt(2)
# e0, e1, e2, e3, (e0 + e1) / sqrt2, (e2 + e3) / sqrt2
CANDIDATES = torch.cat([E, torch.tensor([[R, R, 0, 0], [0, 0, R, R]])])
# Normalised inside to [1, .8, .6, .4, .2, 0].
TRENDING = torch.tensor([5.0, 4, 3, 2, 1, 0])
# Likes e0, likes e2, has no interests yet.
INTERESTS = torch.stack([E[0], E[2], torch.zeros(4)])


def rank(**overrides):
    arguments = {
        "interests": INTERESTS,
        "candidates": CANDIDATES,
        "trending": TRENDING,
        "k": 3,
        "relevance_weight": 1.0,
        "trending_weight": 0.1,
        "mmr_lambda": 1.0,
    }
    return rank_for_subscribers(**{**arguments, **overrides})


def test_top_k_by_hand():
    # subscriber 0: scores 1 + .1, .08, .06, .04, .707 + .02, 0   -> 0, 4, 1
    # subscriber 1: scores .1, .08, 1 + .06, .04, .02, .707 + 0   -> 2, 5, 0
    # subscriber 2: no interests, trending alone                  -> 0, 1, 2
    result = rank()
    assert result.indices.tolist() == [[0, 4, 1], [2, 5, 0], [0, 1, 2]]
    torch.testing.assert_close(result.scores[0], torch.tensor([1.1, R + 0.02, 0.08]))
    torch.testing.assert_close(result.relevance[1], torch.tensor([1.0, R, 0.0]))
    torch.testing.assert_close(result.trending[2], torch.tensor([1.0, 0.8, 0.6]))
    assert result.indices.dtype == torch.int64
    assert result.scores.dtype == torch.float32


def test_papers_already_sent_are_excluded():
    exclude = (torch.tensor([0, 1, 2]), torch.tensor([0, 5, 1]))
    assert rank(exclude=exclude).indices.tolist() == [[4, 1, 2], [2, 0, 1], [0, 2, 3]]


def test_hidden_papers_never_appear_and_do_not_set_the_trending_scale():
    hidden = torch.tensor([True, False, False, False, True, False])
    result = rank(hidden=hidden)
    assert result.indices.tolist() == [[1, 2, 3], [2, 5, 1], [1, 2, 3]]
    # Visible trending spans 4 (e1) .. 0 (e3 + e4): e1 now tops the scale.
    assert result.trending[2].tolist() == pytest.approx([1.0, 0.75, 0.5])


def test_rows_with_fewer_candidates_than_k_are_padded():
    hidden = torch.tensor([False, False, True, True, True, True])
    exclude = (torch.tensor([1]), torch.tensor([0]))
    result = rank(k=4, hidden=hidden, exclude=exclude)
    assert result.indices.tolist() == [[0, 1, -1, -1], [1, -1, -1, -1], [0, 1, -1, -1]]
    assert torch.isnan(result.scores[1, 1:]).all()
    assert torch.isnan(result.relevance[0, 2:]).all()
    assert rank(k=8).indices.shape == (3, 8)


def test_mmr_picks_a_different_subject_over_a_near_duplicate():
    interest = torch.nn.functional.normalize(torch.tensor([[1.0, 0, 0.5, 0]]), dim=1)
    near_copy = torch.nn.functional.normalize(torch.tensor([1.0, 0.05, 0, 0]), dim=0)
    candidates = torch.stack([E[0], near_copy, E[2]])
    # cosine to the interest: .894, .893, .447; the near copy has cosine .9988 to e0.
    by_score = rank(interests=interest, candidates=candidates, trending=torch.zeros(3))
    assert by_score.indices.tolist() == [[0, 1, 2]]
    # lambda .5, second pick: near copy .5 * .893 - .5 * .9988 < 0 < e2 .5 * .447 - .5 * 0.
    diverse = rank(
        interests=interest, candidates=candidates, trending=torch.zeros(3), mmr_lambda=0.5
    )
    assert diverse.indices.tolist() == [[0, 2, 1]]


def random_case(seed: int, *, s: int = 37, p: int = 29, d: int = 8):
    generator = torch.Generator().manual_seed(seed)

    def unit(n: int) -> torch.Tensor:
        return torch.nn.functional.normalize(torch.randn(n, d, generator=generator), dim=1)

    interests = unit(s)
    interests[::5] = 0.0
    rows = torch.randint(0, s, (s * 4,), generator=generator)
    cols = torch.randint(0, p, (s * 4,), generator=generator)
    return {
        "interests": interests,
        "candidates": unit(p),
        "trending": torch.rand(p, generator=generator) * 10,
        "exclude": (rows, cols),
        "hidden": torch.rand(p, generator=generator) < 0.15,
    }


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_chunked_equals_unchunked(device):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    case = random_case(1)
    whole = rank(**case, k=6, mmr_lambda=0.7, chunk_size=10_000, device=device)
    chunked = rank(**case, k=6, mmr_lambda=0.7, chunk_size=4, device=device)
    assert torch.equal(whole.indices, chunked.indices)
    for field in ("scores", "relevance", "trending"):
        torch.testing.assert_close(getattr(whole, field), getattr(chunked, field), equal_nan=True)


def test_parts_on_threads_match_one_thread_and_leave_the_thread_count_alone():
    case = random_case(6, s=50, p=40)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = rank(**case, k=6, mmr_lambda=0.7, chunk_size=8)
        torch.set_num_threads(2)  # parts of 4 rows on 2 threads, each torch single-threaded
        shared = rank(**case, k=6, mmr_lambda=0.7, chunk_size=8)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(alone.indices, shared.indices)
    torch.testing.assert_close(alone.relevance, shared.relevance, equal_nan=True)


def test_pure_score_order_matches_a_plain_sort():
    case = random_case(2)
    result = rank(**case, k=5, chunk_size=8)
    scores = (case["interests"] @ case["candidates"].T + 0.1 * _minmax(case)).numpy()
    scores[:, case["hidden"].numpy()] = -np.inf
    scores[case["exclude"][0].numpy(), case["exclude"][1].numpy()] = -np.inf
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    assert result.indices.tolist() == expected.tolist()


def _minmax(case) -> torch.Tensor:
    visible = case["trending"][~case["hidden"]]
    return (case["trending"] - visible.min()) / (visible.max() - visible.min())


def _reference_mmr(case, *, k: int, pool: int, lam: float) -> list[list[int]]:
    """MMR one subscriber at a time in float64 over a plain sort of all candidates (a pool
    smaller than k counts as k)."""
    interests, candidates = case["interests"].double(), case["candidates"].double()
    scores = (interests @ candidates.T + 0.1 * _minmax(case).double()).numpy()
    scores[:, case["hidden"].numpy()] = -np.inf
    scores[case["exclude"][0].numpy(), case["exclude"][1].numpy()] = -np.inf
    sims = (candidates @ candidates.T).numpy()
    rows = []
    for row in scores:
        left = [c for c in np.argsort(-row, kind="stable")[: max(pool, k)] if np.isfinite(row[c])]
        taken: list[int] = []
        while left and len(taken) < k:
            nearest = [max((sims[c, t] for t in taken), default=-1.0) for c in left]
            values = [lam * row[c] - (1 - lam) * n for c, n in zip(left, nearest, strict=True)]
            taken.append(left.pop(int(np.argmax(values))))
        rows.append(taken + [-1] * (k - len(taken)))
    return rows


@pytest.mark.parametrize(
    ("lam", "pool", "k"), [(1.0, 40, 10), (0.7, 40, 10), (0.3, 25, 10), (0.7, 8, 8)]
)
def test_a_large_candidate_set_matches_mmr_over_a_plain_sort(lam, pool, k):
    # 617 candidates: pools of 25 and 40 are chosen in two stages over blocks (see
    # `_pool_block`; 1 or 2 columns are left over), a pool of 8 by a single topk. Both must
    # pick what the definition picks.
    case = random_case(4, s=60, p=617, d=16)
    result = rank(**case, k=k, mmr_lambda=lam, pool=pool, chunk_size=16)
    assert result.indices.tolist() == _reference_mmr(case, k=k, pool=pool, lam=lam)


@pytest.mark.parametrize("block", [2, 3, 5])
def test_the_pool_chosen_in_blocks_is_exactly_the_best(block):
    generator = torch.Generator().manual_seed(block)
    scores = torch.rand(64, 203, generator=generator)
    # At least 40 blocks (`_pool_block` sees to it). Row 0: the best items all in one block
    # (every `stride`-th column from 5); row 1: in the columns left over after the last
    # whole block; row 2: fewer usable items than the pool.
    stride = 203 // block
    scores[0, 5::stride] += 2.0
    scores[1, block * stride :] += 2.0
    scores[2, 30:] = float("-inf")
    values, columns = _select_pool(scores, pool=40, block=block)
    expected = scores.topk(40, dim=1).values
    assert torch.equal(values.sort(dim=1, descending=True).values, expected)
    assert torch.equal(scores.gather(1, columns), values)
    assert all(len(set(row)) == 40 for row in columns.tolist())


def test_a_row_with_fewer_usable_candidates_than_the_pool_keeps_them_all():
    case = random_case(5, s=6, p=600, d=16)
    case["exclude"] = (torch.zeros(590, dtype=torch.int64), torch.arange(10, 600))
    result = rank(**case, k=12, mmr_lambda=0.7, pool=40)
    usable = set(range(10)) - set(torch.nonzero(case["hidden"][:10]).flatten().tolist())
    picks = result.indices[0].tolist()
    assert set(picks[: len(usable)]) == usable
    assert picks[len(usable) :] == [-1] * (12 - len(usable))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    k=st.integers(1, 12),
    lam=st.floats(0.0, 1.0),
    pool=st.integers(1, 40),
    chunk=st.integers(1, 50),
)
def test_every_row_is_valid(seed, k, lam, pool, chunk):
    case = random_case(seed, s=23, p=11)
    result = rank(**case, k=k, mmr_lambda=lam, pool=pool, chunk_size=chunk)
    blocked = case["hidden"][None, :].repeat(23, 1)
    blocked[case["exclude"]] = True
    for row, picks in enumerate(result.indices.tolist()):
        real = [p for p in picks if p >= 0]
        assert picks[: len(real)] == real, "padding only at the end"
        assert len(set(real)) == len(real), "no duplicates"
        assert not blocked[row, real].any(), "nothing excluded or hidden"
        assert len(real) == min(k, int((~blocked[row]).sum())), "as many as allowed"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"k": 0}, "k must be"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"mmr_lambda": 1.5}, "mmr_lambda"),
        ({"trending": torch.tensor([1.0, 2, 3, float("nan"), 0, 0])}, "finite"),
    ],
)
def test_bad_arguments_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        rank(**change)


def test_no_subscribers_and_no_candidates():
    assert rank(interests=torch.zeros(0, 4)).indices.shape == (0, 3)
    empty = rank(candidates=torch.zeros(0, 4), trending=torch.zeros(0))
    assert empty.indices.tolist() == [[-1] * 3] * 3


def test_rocchio_by_hand():
    vector = interest_vector(
        topic_vecs=np.eye(4)[:1], liked_vecs=np.eye(4)[1:3], disliked_vecs=np.eye(4)[3:]
    )
    # 1 * e0 + .75 * mean(e1, e2) - .25 * e3 = (1, .375, .375, -.25), then unit length.
    expected = np.array([1.0, 0.375, 0.375, -0.25])
    np.testing.assert_allclose(vector, expected / np.linalg.norm(expected), rtol=1e-6)
    assert vector.dtype == np.float32


def test_no_positive_evidence_gives_the_zero_vector():
    none = np.zeros((0, 4))
    assert not interest_vector(topic_vecs=none, liked_vecs=none, disliked_vecs=none).any()
    only_dislikes = interest_vector(topic_vecs=none, liked_vecs=none, disliked_vecs=np.eye(4))
    assert not only_dislikes.any()
    cancelled = interest_vector(
        topic_vecs=np.eye(4)[:1],
        liked_vecs=none,
        disliked_vecs=np.eye(4)[:1],
        weights=RocchioWeights(disliked=1.0),
    )
    assert not cancelled.any()


def test_a_batch_without_any_evidence_is_all_zero():
    vectors = interest_vectors(
        vectors=torch.zeros((0, 4)),
        owners=torch.zeros(0, dtype=torch.int64),
        kinds=torch.zeros(0, dtype=torch.int64),
        n_subscribers=3,
    )
    assert vectors.shape == (3, 4) and not vectors.any()


def test_batched_interest_vectors_match_one_at_a_time():
    generator = np.random.default_rng(3)
    n_subscribers, n = 9, 60
    vectors = generator.normal(size=(n, 5)).astype(np.float32)
    owners = generator.integers(0, n_subscribers - 1, n)  # the last subscriber has nothing
    kinds = generator.choice([TOPIC, LIKED, DISLIKED], n)
    batched = interest_vectors(
        vectors=torch.from_numpy(vectors),
        owners=torch.from_numpy(owners),
        kinds=torch.from_numpy(kinds),
        n_subscribers=n_subscribers,
    ).numpy()
    for row in range(n_subscribers):
        mine = vectors[owners == row]
        single = interest_vector(
            topic_vecs=mine[kinds[owners == row] == TOPIC],
            liked_vecs=mine[kinds[owners == row] == LIKED],
            disliked_vecs=mine[kinds[owners == row] == DISLIKED],
        )
        np.testing.assert_allclose(batched[row], single, atol=1e-6)
    assert not batched[-1].any()
    norms = np.linalg.norm(batched[:-1], axis=1)
    np.testing.assert_allclose(norms[norms > 0], 1.0, rtol=1e-5)
