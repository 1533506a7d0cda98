"""Personal ranking of the day's candidate papers for every subscriber at once.

    score[s, p] = relevance_weight * cos(interest_s, paper_p) + trending_weight * trend_p

with trend normalised to [0, 1] over the visible candidates. Per subscriber the best `pool`
candidates are then re-ordered by maximal marginal relevance (MMR) so that a digest is not ten
versions of one paper. Everything is batched tensor work, chunked over subscribers so memory
stays bounded whatever their number: no Python loop over subscribers anywhere.

Pure module (no Django): the caller gathers arrays and settings and passes them in.
"""

from dataclasses import dataclass

import numpy as np
import torch

TOPIC, LIKED, DISLIKED = 0, 1, 2
# Below this norm an interest vector is noise (positive and negative evidence cancelled out).
MIN_INTEREST_NORM = 1e-6
NEG_INF = float("-inf")
# mmr_lambda below this ranks as if it were this: the order of "most different first".
MIN_MMR_LAMBDA = 1e-6


@dataclass(frozen=True)
class RocchioWeights:
    """Classic Rocchio proportions: what a reader says they want (topics) leads, papers they
    liked refine it, and disliked papers push away more gently, because a dislike often means
    "not this paper", not "not this subject"."""

    topics: float = 1.0
    liked: float = 0.75
    disliked: float = 0.25


DEFAULT_ROCCHIO = RocchioWeights()


def interest_vectors(
    *,
    vectors: torch.Tensor,
    owners: torch.Tensor,
    kinds: torch.Tensor,
    n_subscribers: int,
    weights: RocchioWeights = DEFAULT_ROCCHIO,
) -> torch.Tensor:
    """Unit interest vectors (S, D) float32 for many subscribers from one flat list of evidence.

    vectors (N, D): embeddings of topic texts, liked papers and disliked papers, all mixed;
    owners (N,) int64: the subscriber row each vector belongs to; kinds (N,) int64: TOPIC,
    LIKED or DISLIKED. Per subscriber: topics * mean(topics) + liked * mean(liked)
    - disliked * mean(disliked), renormalised. A subscriber without topics or likes gets the
    zero vector, which ranks by trending alone: "unlike what I disliked" is no interest.
    """
    vectors = vectors.to(torch.float32)
    owners, kinds = owners.to(vectors.device, torch.int64), kinds.to(vectors.device, torch.int64)
    slots = owners * 3 + kinds
    counts = torch.bincount(slots, minlength=n_subscribers * 3).view(n_subscribers, 3)
    signed = torch.tensor([weights.topics, weights.liked, -weights.disliked], device=vectors.device)
    # Dividing each vector by its group's size turns one index_add_ into per-group means.
    row_weights = signed[kinds] / counts.view(-1)[slots]
    summed = torch.zeros((n_subscribers, vectors.shape[1]), device=vectors.device)
    summed.index_add_(0, owners, vectors * row_weights[:, None])
    norms = summed.norm(dim=1, keepdim=True)
    has_positive = (counts[:, TOPIC] + counts[:, LIKED] > 0)[:, None]
    usable = has_positive & (norms > MIN_INTEREST_NORM)
    return torch.where(usable, summed / norms.clamp_min(MIN_INTEREST_NORM), 0.0)


def interest_vector(
    *,
    topic_vecs: np.ndarray,
    liked_vecs: np.ndarray,
    disliked_vecs: np.ndarray,
    weights: RocchioWeights = DEFAULT_ROCCHIO,
) -> np.ndarray:
    """One subscriber's unit interest vector (D,) float32 from (n, D) arrays (n may be 0); the
    zero vector when there is nothing positive to go on. See `interest_vectors`."""
    groups = [
        np.asarray(group, dtype=np.float32) for group in (topic_vecs, liked_vecs, disliked_vecs)
    ]
    sizes = [len(group) for group in groups]
    result = interest_vectors(
        vectors=torch.from_numpy(np.concatenate(groups)),
        owners=torch.zeros(sum(sizes), dtype=torch.int64),
        kinds=torch.from_numpy(np.repeat(np.array([TOPIC, LIKED, DISLIKED]), sizes)),
        n_subscribers=1,
        weights=weights,
    )
    return result[0].numpy()


@dataclass(frozen=True)
class RankResult:
    """(S, k) per subscriber, best first, on the CPU. Where fewer than k candidates remain,
    indices are -1 and the float fields NaN. scores = relevance_weight * relevance +
    trending_weight * trending."""

    indices: torch.Tensor  # int64 candidate row
    scores: torch.Tensor  # float32
    relevance: torch.Tensor  # float32 cosine of interest and paper (0 for a zero interest)
    trending: torch.Tensor  # float32 trending score normalised to [0, 1]


@dataclass(frozen=True)
class _Exclusions:
    """(row, candidate) pairs never to rank, sorted by row so that each chunk finds its own
    with a binary search instead of scanning all of them."""

    rows: torch.Tensor
    cols: torch.Tensor

    @classmethod
    def build(
        cls, exclude: tuple[torch.Tensor, torch.Tensor] | None, device: torch.device
    ) -> "_Exclusions":
        if exclude is None:
            empty = torch.zeros(0, dtype=torch.int64, device=device)
            return cls(rows=empty, cols=empty)
        rows, cols = (part.to(device, torch.int64) for part in exclude)
        order = torch.argsort(rows)
        return cls(rows=rows[order], cols=cols[order])

    def apply(self, scores: torch.Tensor, first_row: int) -> None:
        bounds = torch.tensor([first_row, first_row + len(scores)], device=self.rows.device)
        lo, hi = torch.searchsorted(self.rows, bounds).tolist()
        scores[self.rows[lo:hi] - first_row, self.cols[lo:hi]] = NEG_INF


@dataclass(frozen=True)
class _Setup:
    """What every chunk shares, on the ranking device."""

    candidates: torch.Tensor  # (P, D) float32
    trend: torch.Tensor  # (P,) normalised to [0, 1]
    bias: torch.Tensor  # (P,) trending_weight * trend, -inf where hidden
    pair_sims: torch.Tensor  # (P, P) candidate-candidate cosine, for MMR
    exclusions: _Exclusions
    relevance_weight: float
    mmr_lambda: float
    pool: int  # M candidates pre-selected per subscriber for MMR
    picks: int  # min(k, M)


def _normalised_trend(trending: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """Min-max to [0, 1] over the visible candidates (a hidden outlier must not squash the
    rest); all equal gives all zero: no trending signal to rank by."""
    visible = trending[~hidden]
    if not len(visible):
        return torch.zeros_like(trending)
    low, span = visible.min(), visible.max() - visible.min()
    return ((trending - low) / span).clamp(0.0, 1.0) if span > 0 else torch.zeros_like(trending)


def _setup(
    *,
    candidates: torch.Tensor,
    trending: torch.Tensor,
    exclude: tuple[torch.Tensor, torch.Tensor] | None,
    hidden: torch.Tensor | None,
    k: int,
    relevance_weight: float,
    trending_weight: float,
    mmr_lambda: float,
    pool: int | None,
    device: torch.device,
) -> _Setup:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not 0.0 <= mmr_lambda <= 1.0:
        raise ValueError(f"mmr_lambda must be within [0, 1], got {mmr_lambda}")
    if not torch.isfinite(trending).all():
        raise ValueError("trending scores must be finite")
    candidates = candidates.to(device, torch.float32)
    trending = trending.to(device, torch.float32)
    hidden = (
        torch.zeros(len(candidates), dtype=torch.bool, device=device)
        if hidden is None
        else hidden.to(device, torch.bool)
    )
    trend = _normalised_trend(trending, hidden)
    width = min(max(pool or 4 * k, k), len(candidates))
    return _Setup(
        candidates=candidates,
        trend=trend,
        bias=(trending_weight * trend).masked_fill(hidden, NEG_INF),
        pair_sims=candidates @ candidates.T,
        exclusions=_Exclusions.build(exclude, device),
        relevance_weight=relevance_weight,
        mmr_lambda=mmr_lambda,
        pool=width,
        picks=min(k, width),
    )


def rank_for_subscribers(
    *,
    interests: torch.Tensor,
    candidates: torch.Tensor,
    trending: torch.Tensor,
    exclude: tuple[torch.Tensor, torch.Tensor] | None = None,
    hidden: torch.Tensor | None = None,
    k: int,
    relevance_weight: float,
    trending_weight: float,
    mmr_lambda: float,
    pool: int | None = None,
    chunk_size: int = 4096,
    device: str | torch.device = "cpu",
) -> RankResult:
    """Top-k candidates for each of S subscribers.

    interests (S, D): unit rows, or zero rows for "no interests yet" (ranked by trending);
    candidates (P, D): unit rows; trending (P,): raw finite scores; exclude: (subscriber rows,
    candidate indices), int64 tensors of equal length, e.g. papers already sent; hidden (P,)
    bool: moderated papers. pool: candidates pre-selected by score for MMR (default 4k);
    mmr_lambda 1.0 = pure score order. Memory per chunk is about chunk_size x P floats, plus
    P x P once for candidate similarities.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    device = torch.device(device)
    setup = _setup(
        candidates=candidates,
        trending=trending,
        exclude=exclude,
        hidden=hidden,
        k=k,
        relevance_weight=relevance_weight,
        trending_weight=trending_weight,
        mmr_lambda=mmr_lambda,
        pool=pool,
        device=device,
    )
    chunks = [
        _rank_chunk(interests[first : first + chunk_size].to(device, torch.float32), first, setup)
        for first in range(0, len(interests), chunk_size)
    ]
    if not chunks:
        chunks = [_empty_chunk(setup)]
    return _padded_result(chunks, picks=setup.picks, k=k)


def _empty_chunk(setup: _Setup) -> tuple[torch.Tensor, ...]:
    index = torch.zeros((0, setup.picks), dtype=torch.int64)
    values = torch.zeros((0, setup.picks))
    return index, index.bool(), values, values, values


def _rank_chunk(users: torch.Tensor, first_row: int, setup: _Setup) -> tuple[torch.Tensor, ...]:
    """(indices, valid, scores, relevance, trending), each (chunk, picks), on the CPU."""
    cosines = users @ setup.candidates.T
    # Kept apart from `cosines`, which then give the picks' relevance for a gather.
    scores = torch.add(setup.bias, cosines, alpha=setup.relevance_weight)
    setup.exclusions.apply(scores, first_row)
    pool_scores, pool_index = scores.topk(setup.pool, dim=1)
    positions, valid = _mmr(
        pool_scores, pool_index, setup.pair_sims, picks=setup.picks, lam=setup.mmr_lambda
    )
    picked = pool_index.gather(1, positions)
    parts = (
        picked,
        valid,
        pool_scores.gather(1, positions),
        cosines.gather(1, picked),
        setup.trend[picked],
    )
    return tuple(part.cpu() for part in parts)


def _mmr(
    scores: torch.Tensor,
    pool_index: torch.Tensor,
    pair_sims: torch.Tensor,
    *,
    picks: int,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy MMR for a chunk of subscribers at once: each step takes, per row, the pool item
    maximising lam * score - (1 - lam) * (highest cosine to an item already taken).

    scores (C, M) with -inf for unusable items; pool_index (C, M) their candidate rows;
    pair_sims (P, P). Returns pool positions (C, picks) in pick order and whether each pick
    is a real candidate.

    Few, whole-chunk operations per step: on a CPU each one is a parallel region, and on
    shared cores every region waits for its slowest thread."""
    # Same argmax as lam * score - (1 - lam) * nearest, in one operation, with unusable items
    # staying at -inf. The floor on lam keeps 0 meaning "least similar first" (score breaks
    # ties) instead of 0 * -inf = nan.
    penalty = (1.0 - lam) / max(lam, MIN_MMR_LAMBDA)
    available = scores.clone()
    # -1 is the lowest possible cosine: before the first pick no item is penalised.
    nearest = torch.full_like(scores, -1.0)
    rows = torch.arange(len(scores), device=scores.device)
    positions = torch.zeros((len(scores), picks), dtype=torch.int64, device=scores.device)
    valid = torch.zeros((len(scores), picks), dtype=torch.bool, device=scores.device)
    for step in range(picks):
        best = torch.add(available, nearest, alpha=-penalty).argmax(dim=1)
        # An all -inf row still yields an argmax: it marks the end of that row's candidates.
        valid[:, step] = torch.isfinite(available[rows, best])
        positions[:, step] = best
        available[rows, best] = NEG_INF
        # Only the new pick's row of similarities to the pool: picks x M per subscriber, not
        # the M x M pool matrix, whose gather would cost more than the whole ranking.
        offsets = (pool_index[rows, best] * len(pair_sims))[:, None] + pool_index
        torch.maximum(nearest, torch.take(pair_sims, offsets), out=nearest)
    return positions, valid


def _padded_result(chunks: list[tuple[torch.Tensor, ...]], *, picks: int, k: int) -> RankResult:
    picked, valid, scores, relevance, trend = (
        torch.cat(part) for part in zip(*chunks, strict=True)
    )
    width = (0, k - picks)  # fewer candidates than k: pad on the right
    return RankResult(
        indices=torch.nn.functional.pad(picked.masked_fill(~valid, -1), width, value=-1),
        scores=_pad_nan(scores, valid, width),
        relevance=_pad_nan(relevance, valid, width),
        trending=_pad_nan(trend, valid, width),
    )


def _pad_nan(values: torch.Tensor, valid: torch.Tensor, width: tuple[int, int]) -> torch.Tensor:
    nan = float("nan")
    return torch.nn.functional.pad(values.masked_fill(~valid, nan), width, value=nan)
