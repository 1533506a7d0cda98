"""Facet ranking on hand-checkable cases, and its invariants on random ones (pure, no DB)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.services.ranking.personal import (
    FOLLOWED,
    Cells,
    Readers,
    Weights,
    _expand,
    _feedback_papers,
    _select_pool,
    _setup,
    rank_for_readers,
)
from digest.services.ranking.taste import fit_tastes

E = torch.eye(4)
R = 1 / math.sqrt(2)
# e0, e1, e2, e3, (e0 + e1) / sqrt2, (e2 + e3) / sqrt2
CANDIDATES = torch.cat([E, torch.tensor([[R, R, 0, 0], [0, 0, R, R]])])
P = len(CANDIDATES)
TRENDING = torch.tensor([5.0, 4, 3, 2, 1, 0])
PURE = Weights(threshold=0.5, mmr_lambda=1.0, facet_share=0.0)


def readers(
    facets: list[list[torch.Tensor]],
    *,
    negatives: list[list[torch.Tensor]] | None = None,
    bonus: list[tuple[int, int, float]] = (),
    followed: list[tuple[int, int]] = (),
    restricted: dict[int, list[int]] | None = None,
    exclude: list[tuple[int, int]] = (),
    dial: float = 0.0,
    taste: torch.Tensor | None = None,
    groups: list[int] | None = None,
    width: int = P,
) -> Readers:
    """Readers from per-reader lists of facet vectors (and optional extras)."""
    negatives = negatives or [[] for _ in facets]
    restricted = restricted or {}
    owner = [row for row, vectors in enumerate(facets) for _ in vectors]
    negative_owner = [row for row, vectors in enumerate(negatives) for _ in vectors]

    def stack(rows: list[list[torch.Tensor]]) -> torch.Tensor:
        flat = [vector for vectors in rows for vector in vectors]
        return torch.stack(flat) if flat else torch.zeros((0, 4))

    def cells(pairs, values=None) -> Cells:
        rows = torch.tensor([r for r, *_ in pairs], dtype=torch.int64)
        cols = torch.tensor([c for _, c, *_ in pairs], dtype=torch.int64)
        return Cells.build(rows=rows, cols=cols, width=width, values=values)

    allowed = [(row, col) for row, cols in restricted.items() for col in cols]
    return Readers(
        facets=stack(facets),
        facet_owner=torch.tensor(owner, dtype=torch.int64),
        facet_group=torch.tensor(groups or list(range(len(owner))), dtype=torch.int64),
        facet_offset=torch.zeros(len(owner)),
        facet_bonus=cells(bonus, torch.tensor([v for *_, v in bonus], dtype=torch.float32)),
        negatives=stack(negatives),
        negative_owner=torch.tensor(negative_owner, dtype=torch.int64),
        taste=taste,
        trending_weight=torch.full((len(facets),), dial),
        followed=cells(list(followed)),
        restricted=torch.tensor([row in restricted for row in range(len(facets))]),
        allowed=cells(allowed),
        exclude=cells(list(exclude)),
    )


def rank(batch: Readers, *, k: int = 3, weights: Weights = PURE, **options):
    return rank_for_readers(
        readers=batch, candidates=CANDIDATES, trending=TRENDING, k=k, weights=weights, **options
    )


def test_the_best_facet_counts_not_their_average():
    # Interests e0 and e2: their average (e0 + e2) / sqrt2 is 0.707 from each, and nearest to
    # nothing in particular; as facets, each finds its own papers.
    result = rank(readers([[E[0], E[2]]]), k=4)
    assert set(result.indices[0].tolist()) == {0, 2, 4, 5}
    assert result.relevance[0, :2].tolist() == [1.0, 1.0]


def test_nothing_below_the_threshold_is_sent_and_the_rest_is_padding():
    # e3 matches itself (1.0) and column 5 (0.707); nothing else reaches 0.5.
    result = rank(readers([[E[3]]]), k=4)
    assert result.indices[0].tolist() == [3, 5, -1, -1]
    assert math.isnan(result.scores[0, 2])
    assert result.facet[0].tolist() == [0, 0, -1, -1]


def test_a_reader_without_facets_gets_no_personal_paper():
    result = rank(readers([[E[0]], []]))
    assert result.indices[1].tolist() == [-1, -1, -1]


def test_every_interest_is_served_before_a_second_paper_on_one():
    # Facet e0 finds 0 (1.0) and 4 (0.707); facet e2 + small finds only 2 (0.8).
    weaker = torch.nn.functional.normalize(E[2] + 0.75 * E[1], dim=0)
    batch = readers([[E[0], weaker]])
    plain = rank(batch, k=2)
    assert plain.indices[0].tolist() == [0, 2] or plain.indices[0].tolist() == [0, 4]
    shared = rank(batch, k=2, weights=Weights(threshold=0.5, mmr_lambda=1.0, facet_share=0.3))
    assert shared.indices[0].tolist() == [0, 2]
    assert shared.facet[0].tolist() == [0, 1]


def test_facets_of_one_interest_group_share_its_slots():
    # Two facets near e0 in one group, one on e3: the group's second paper waits for e3's.
    near = torch.nn.functional.normalize(E[0] + 0.2 * E[1], dim=0)
    weights = Weights(threshold=0.5, mmr_lambda=1.0, facet_share=0.4)
    grouped = rank(readers([[E[0], near, E[3]]], groups=[0, 0, 2]), k=2, weights=weights)
    assert grouped.indices[0].tolist() == [0, 3]


def test_a_bonus_lifts_a_paper_over_the_threshold():
    # The lexical score of a topic's exact words: column 1 is 0 by cosine to e0.
    result = rank(readers([[E[0]]], bonus=[(0, 1, 0.6)]), k=4)
    assert 1 in result.indices[0].tolist()
    assert result.relevance[0, result.indices[0].tolist().index(1)] == pytest.approx(0.6)


def test_papers_near_a_disliked_one_are_pushed_down():
    # e0 + e1 reader: 0 and 1 (0.707) and 4 (1.0); disliking e1 removes 1 (as close to it
    # as can be) and lowers 4 (0.707 from it) by the excess over the floor.
    facet = torch.nn.functional.normalize(E[0] + E[1], dim=0)
    liked_only = rank(readers([[facet]]), k=3)
    assert set(liked_only.indices[0].tolist()) == {0, 1, 4}
    disliked = rank(readers([[facet]], negatives=[[E[1]]]), k=3)
    assert disliked.indices[0].tolist() == [4, 0, -1]
    assert disliked.relevance[0, 0] == pytest.approx(1 - (R - PURE.dislike_floor))


def test_a_followed_author_comes_first_whatever_the_match():
    result = rank(readers([[E[0]]], followed=[(0, 3)]), k=2)
    assert result.indices[0].tolist() == [3, 0]
    assert result.followed[0].tolist() == [True, False]
    assert result.relevance[0, 0] == FOLLOWED


def test_a_restricted_reader_gets_only_their_categories_and_followed_authors():
    batch = readers([[E[0]]], restricted={0: [4]}, followed=[(0, 3)])
    assert rank(batch, k=3).indices[0].tolist() == [3, 4, -1]


def test_excluded_and_hidden_papers_never_come():
    hidden = torch.zeros(P, dtype=torch.bool)
    hidden[4] = True
    result = rank(readers([[E[0]]], exclude=[(0, 0)]), k=3, hidden=hidden)
    assert result.indices[0].tolist() == [-1, -1, -1]


def test_the_dial_orders_by_trending_among_the_relevant_only():
    # e0 + e1 finds 0, 1 (0.707) and 4 (1.0); trending 5, 4, 1.
    facet = torch.nn.functional.normalize(E[0] + E[1], dim=0)
    by_interest = rank(readers([[facet]], dial=0.0), k=4)
    by_trend = rank(readers([[facet]], dial=1.0), k=4)
    assert by_interest.indices[0].tolist()[0] == 4
    assert by_trend.indices[0].tolist() == [0, 1, 4, -1]  # never 2, 3 or 5: not relevant


def test_a_taste_classifier_only_ever_lifts():
    # A classifier for reader 0 that loves e2 papers; reader 1 has none (a zero row).
    taste = torch.zeros((2, 5))
    taste[0, 2] = 8.0
    batch = readers([[E[0]], [E[0]]], taste=taste)
    weights = Weights(threshold=0.5, mmr_lambda=1.0, facet_share=0.0, taste_weight=1.0)
    result = rank(batch, k=4, weights=weights)
    assert 2 in result.indices[0].tolist()  # lifted over the threshold
    assert result.indices[1].tolist() == rank(readers([[E[0]]]), k=4).indices[0].tolist()


def test_fitted_tastes_separate_likes_from_dislikes_per_reader():
    examples = torch.stack([E[0], E[1], E[2], E[3]])
    tastes = fit_tastes(
        examples=examples,
        liked=torch.tensor([True, False, True, False]),
        owners=torch.tensor([0, 0, 1, 1]),
        background=CANDIDATES,
        readers=2,
    )
    logits = tastes[:, :-1] @ examples.T + tastes[:, -1:]
    assert logits[0, 0] > logits[0, 1] and logits[1, 2] > logits[1, 3]


@st.composite
def cases(draw):
    readers_count = draw(st.integers(1, 7))
    papers = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**16))
    generator = torch.Generator().manual_seed(seed)
    counts = [draw(st.integers(0, 3)) for _ in range(readers_count)]
    facets = [
        [
            torch.nn.functional.normalize(torch.randn(4, generator=generator), dim=0)
            for _ in range(n)
        ]
        for n in counts
    ]
    candidates = torch.nn.functional.normalize(torch.randn(papers, 4, generator=generator), dim=1)
    trending = torch.rand(papers, generator=generator) * 10
    excluded = [
        (draw(st.integers(0, readers_count - 1)), draw(st.integers(0, papers - 1)))
        for _ in range(draw(st.integers(0, 5)))
    ]
    return facets, candidates, trending, excluded, draw(st.integers(1, 5))


@settings(max_examples=60, deadline=None)
@given(cases(), st.floats(0.0, 1.0), st.floats(-0.5, 0.9))
def test_invariants_on_random_readers(case, dial, threshold):
    facets, candidates, trending, excluded, k = case
    width = len(candidates)
    batch = readers(facets, exclude=excluded, dial=dial, width=width)
    weights = Weights(threshold=threshold, mmr_lambda=0.8, facet_share=0.05)
    options = {"candidates": candidates, "trending": trending, "k": k, "weights": weights}
    whole = rank_for_readers(readers=batch, **options)
    chunked = rank_for_readers(readers=batch, chunk_size=2, **options)
    assert torch.equal(whole.indices, chunked.indices)
    for row, chosen in enumerate(whole.indices.tolist()):
        real = [col for col in chosen if col >= 0]
        assert len(real) == len(set(real))  # no paper twice
        assert chosen == real + [-1] * (k - len(real))  # padding only at the end
        assert not {col for r, col in excluded if r == row} & set(real)
        best = [max(float(f @ candidates[col]) for f in facets[row]) for col in real]
        assert all(value >= threshold - 1e-5 for value in best)  # never below the threshold
        eligible = (
            sum(
                1
                for col in range(width)
                if facets[row]
                and max(float(f @ candidates[col]) for f in facets[row]) >= threshold + 1e-5
                and (row, col) not in excluded
            )
            if facets[row]
            else 0
        )
        assert len(real) >= min(eligible, k, 4 * k)  # the relevant papers are not dropped


def test_pool_selection_matches_one_topk():
    generator = torch.Generator().manual_seed(1)
    scores = torch.randn(8, 2000, generator=generator)
    scores[0, :1990] = float("-inf")
    for block in (1, 7):
        values, columns = _select_pool(scores, pool=40, block=block)
        expected = scores.topk(40, dim=1).values
        assert torch.equal(values.sort(dim=1, descending=True).values, expected)
        assert torch.equal(scores.gather(1, columns), values)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**16), st.floats(-0.2, 0.8))
def test_expansion_scores_are_the_cosines_of_the_moved_facets(seed, threshold):
    # The shortcut through candidate similarities must equal the plain product.
    generator = torch.Generator().manual_seed(seed)
    facets = torch.nn.functional.normalize(torch.randn(5, 8, generator=generator), dim=1)
    candidates = torch.nn.functional.normalize(torch.randn(9, 8, generator=generator), dim=1)
    weights = Weights(threshold=threshold, expansion=0.5, expansion_papers=3)
    setup = _setup(
        candidates=candidates,
        trending=torch.zeros(9),
        hidden=None,
        k=2,
        weights=weights,
        pool=None,
        device=torch.device("cpu"),
    )
    offsets = torch.full((5, 1), -0.05)
    scores = facets @ candidates.T + offsets
    columns = _feedback_papers(scores, setup)
    picked, share = columns
    mean = (candidates[picked] * share[:, :, None]).sum(dim=1)
    moved = torch.nn.functional.normalize(facets + 0.5 * mean, dim=1)
    _expand(scores, facets, offsets, columns=columns, setup=setup)
    torch.testing.assert_close(scores, moved @ candidates.T + offsets, atol=1e-5, rtol=1e-5)
