"""Personal ranking of the day's candidate papers for every subscriber at once.

    score[s, p] = relevance_weight * cos(interest_s, paper_p) + trending_weight * trend_p

with trend normalised to [0, 1] over the visible candidates. Per subscriber the best `pool`
candidates are then re-ordered by maximal marginal relevance (MMR) so that a digest is not ten
versions of one paper. Everything is batched tensor work, chunked over subscribers so memory
stays bounded whatever their number: no Python loop over subscribers anywhere. On a CPU the
chunks are cut into parts that the cores rank side by side (see `_map_parts`).

Pure module (no Django): the caller gathers arrays and settings and passes them in.
"""

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

TOPIC, LIKED, DISLIKED = 0, 1, 2
# Below this norm an interest vector is noise (positive and negative evidence cancelled out).
MIN_INTEREST_NORM = 1e-6
NEG_INF = float("-inf")
INT32_MAX = 2**31 - 1
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
    """Cells (row * P + candidate) never to rank, sorted, so that each part finds its own
    with a binary search instead of scanning all of them, and blanks them through one flat
    index. One sort of the cells costs less than sorting rows and reordering both columns
    (about 24 against 60 ms for 2M pairs), and int32 cells sort twice as fast as int64."""

    cells: torch.Tensor  # int32 where every cell fits, else int64
    width: int  # P

    @classmethod
    def build(
        cls, exclude: tuple[torch.Tensor, torch.Tensor] | None, width: int, device: torch.device
    ) -> "_Exclusions":
        if exclude is None:
            return cls(cells=torch.zeros(0, dtype=torch.int64, device=device), width=width)
        rows, cols = (part.to(device, torch.int64) for part in exclude)
        cells = rows * width + cols
        if len(cells) and cells.max() < INT32_MAX:
            cells = cells.int()
        return cls(cells=torch.sort(cells).values, width=width)

    def apply(self, scores: torch.Tensor, first_row: int) -> None:
        """Set the excluded cells of scores (contiguous rows first_row...) to -inf."""
        start = first_row * self.width
        bounds = [start, start + scores.numel()]
        if self.cells.dtype == torch.int32:
            # Past the largest int32 cell, INT32_MAX still bounds them all.
            bounds = [min(bound, INT32_MAX) for bound in bounds]
        bounds = torch.tensor(bounds, dtype=self.cells.dtype, device=self.cells.device)
        lo, hi = torch.searchsorted(self.cells, bounds).tolist()
        scores.view(-1)[self.cells[lo:hi].long() - start] = NEG_INF


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
    block: int  # block width of the two-stage pool selection; 1: one plain topk


def _normalised_trend(trending: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """Min-max to [0, 1] over the visible candidates (a hidden outlier must not squash the
    rest); all equal gives all zero: no trending signal to rank by."""
    visible = trending[~hidden]
    if not len(visible):
        return torch.zeros_like(trending)
    low, span = visible.min(), visible.max() - visible.min()
    return ((trending - low) / span).clamp(0.0, 1.0) if span > 0 else torch.zeros_like(trending)


def _pool_block(width: int, pool: int, device: torch.device) -> int:
    """Block width for `_select_pool`, 1 for a single topk.

    PyTorch's CPU topk heap-selects while 64 * k <= row length and otherwise runs
    nth_element over (value, index) pairs, several times slower per element: at P = 2,000 a
    top-40 costs three times a top-10, most of what the matrix product costs. Two small
    topks over blocks of about sqrt(P / M) columns cost 40 % less. CUDA's topk has no such
    cliff, so it stays one call there."""
    if device.type != "cpu" or 64 * pool <= width:
        return 1
    return max(1, math.isqrt(width // pool))


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
    pool_size = min(max(pool or 4 * k, k), len(candidates))
    return _Setup(
        candidates=candidates,
        trend=trend,
        bias=(trending_weight * trend).masked_fill(hidden, NEG_INF),
        pair_sims=candidates @ candidates.T,
        exclusions=_Exclusions.build(exclude, len(candidates), device),
        relevance_weight=relevance_weight,
        mmr_lambda=mmr_lambda,
        pool=pool_size,
        picks=min(k, pool_size),
        block=_pool_block(len(candidates), pool_size, device),
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
    mmr_lambda 1.0 = pure score order. At most chunk_size subscribers are scored at once
    (about 2 x chunk_size x P floats), plus P x P once for candidate similarities.
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
    workers = torch.get_num_threads() if device.type == "cpu" else 1
    rows = _rows_per_part(chunk_size, workers)

    def rank_part(first: int) -> tuple[torch.Tensor, ...]:
        users = interests[first : first + rows].to(device, torch.float32)
        return _rank_part(users, first, setup)

    parts = _map_parts(rank_part, range(0, len(interests), rows), workers)
    return _padded_result(parts or [_empty_part(setup)], picks=setup.picks, k=k)


# Rows per part on a CPU. At 100k x 2,000 on 2 cores, parts of 1,024 and 2,048 rows ranked
# alike and 512 about 8 % slower (more operations per subscriber); the smaller of the two
# splits 10k subscribers evenly across the cores.
CPU_PART_ROWS = 1024


def _rows_per_part(chunk_size: int, workers: int) -> int:
    """One part per worker at a time, all of them together within chunk_size rows."""
    if workers == 1:
        return chunk_size
    return max(1, min(CPU_PART_ROWS, chunk_size // workers))


def _map_parts(
    rank_part: Callable[[int], tuple[torch.Tensor, ...]], starts: range, workers: int
) -> list[tuple[torch.Tensor, ...]]:
    """rank_part over every start, on `workers` threads that each run torch single-threaded.

    Torch's own CPU parallelism splits every operation across the cores and ends each with a
    barrier; ranking is many small operations (the pool, ten MMR steps), and on cores shared
    with other work each barrier waits for a descheduled thread, which made it 3 to 5 times
    slower under load. Independent parts have no barriers: a thread that loses its core
    delays only its own part. Operations release the GIL.

    Torch's thread count is process-wide: other threads of this process that use torch
    meanwhile run single-threaded too, until it is restored here."""
    if workers == 1 or len(starts) <= 1:
        return [rank_part(first) for first in starts]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as executor:
            return list(executor.map(rank_part, starts))
    finally:
        torch.set_num_threads(threads)


def _empty_part(setup: _Setup) -> tuple[torch.Tensor, ...]:
    index = torch.zeros((0, setup.picks), dtype=torch.int64)
    values = torch.zeros((0, setup.picks))
    return index, index.bool(), values, values, values


def _rank_part(users: torch.Tensor, first_row: int, setup: _Setup) -> tuple[torch.Tensor, ...]:
    """(indices, valid, scores, relevance, trending), each (rows, picks), on the CPU."""
    cosines = users @ setup.candidates.T
    # Kept apart from `cosines`, which then give the pool's relevance for a gather.
    scores = torch.add(setup.bias, cosines, alpha=setup.relevance_weight)
    setup.exclusions.apply(scores, first_row)
    pool_scores, pool_index = _select_pool(scores, pool=setup.pool, block=setup.block)
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


def _select_pool(
    scores: torch.Tensor, *, pool: int, block: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The `pool` best scores of each row and their columns, in no particular order (MMR
    reorders them anyway).

    With block > 1, in two small topks: first the `pool` blocks with the highest maxima,
    then the best `pool` of their items and of the few columns left over after the last
    whole block. Exact: an item of any other block is beaten by each of those `pool` maxima.
    Block j holds columns j, j + stride, j + 2 * stride, ...: its maximum is then an
    elementwise max of `block` contiguous slices, where a reduction over a short innermost
    dimension would be several times slower."""
    if block == 1:
        return scores.topk(pool, dim=1, sorted=False)
    rows, width = scores.shape
    stride = width // block
    covered = block * stride
    blocks = scores[:, :covered].unflatten(1, (block, stride))  # a view
    best_blocks = blocks.amax(dim=1).topk(pool, dim=1, sorted=False).indices
    items = blocks.gather(2, best_blocks[:, None, :].expand(rows, block, pool)).flatten(1)
    values, positions = torch.cat([items, scores[:, covered:]], dim=1).topk(
        pool, dim=1, sorted=False
    )
    # Position p < block * pool is item p // pool of block best_blocks[p % pool].
    in_block = best_blocks.gather(1, positions % pool) + positions // pool * stride
    leftover = positions - block * pool + covered
    return values, torch.where(positions < block * pool, in_block, leftover)


def _mmr(
    scores: torch.Tensor,
    pool_index: torch.Tensor,
    pair_sims: torch.Tensor,
    *,
    picks: int,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy MMR for a part of the subscribers at once: each step takes, per row, the pool
    item maximising lam * score - (1 - lam) * (highest cosine to an item already taken).

    scores (C, M) with -inf for unusable items; pool_index (C, M) their candidate rows;
    pair_sims (P, P). Returns pool positions (C, picks) in pick order and whether each pick
    is a real candidate."""
    # Same argmax as lam * score - (1 - lam) * nearest, in one operation, with unusable items
    # staying at -inf. The floor on lam keeps 0 meaning "least similar first" (score breaks
    # ties) instead of 0 * -inf = nan.
    penalty = (1.0 - lam) / max(lam, MIN_MMR_LAMBDA)
    available = scores.clone()
    nearest = None  # before the first pick no item is penalised
    positions = torch.zeros((len(scores), picks), dtype=torch.int64, device=scores.device)
    valid = torch.zeros((len(scores), picks), dtype=torch.bool, device=scores.device)
    for step in range(picks):
        values = available if nearest is None else available.add(nearest, alpha=-penalty)
        # The best value is finite exactly when the item is usable: an all -inf row still
        # yields a position, which marks the end of that row's candidates.
        best_value, best = values.max(dim=1, keepdim=True)
        valid[:, step : step + 1] = best_value.isfinite()
        positions[:, step : step + 1] = best
        available.scatter_(1, best, NEG_INF)
        if step + 1 < picks:
            sims = _sims_to_pick(pool_index.gather(1, best), pool_index, pair_sims)
            nearest = sims if nearest is None else torch.maximum(nearest, sims, out=nearest)
    return positions, valid


def _sims_to_pick(
    chosen: torch.Tensor, pool_index: torch.Tensor, pair_sims: torch.Tensor
) -> torch.Tensor:
    """(C, M) cosine of each pool item to its row's new pick (C, 1). Only that row of
    similarities: picks x M per subscriber, not the M x M pool matrix, whose gather would
    cost more than the whole ranking."""
    return torch.take(pair_sims, chosen * len(pair_sims) + pool_index)


def _padded_result(parts: list[tuple[torch.Tensor, ...]], *, picks: int, k: int) -> RankResult:
    picked, valid, scores, relevance, trend = (torch.cat(part) for part in zip(*parts, strict=True))
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
