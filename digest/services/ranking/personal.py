"""Personal ranking of the day's candidate papers for every reader at once.

A reader is several interests, not one average: each topic line, followed category and liked
paper is a *facet* with its own vector, and a paper's relevance is its best facet match

    relevance[s, p] = max over facets f of s ( cos(f, p) + bonus[f, p] )
                      - dislike_weight * max(0, max over disliked d of s cos(d, p) - floor)
                      + taste_weight * (taste_s(p) - 1/2)

where `bonus` carries what the caller adds per facet (the lexical score of a topic's exact
words, the boost of a followed category) and `taste_s` is the reader's own classifier where
they gave enough feedback (`taste.py`). Only papers at or above `threshold` are eligible for
the reader's personal section ("For you"): a digest never pads itself with papers nobody
asked for. Eligible papers are ordered by

    (1 - w_s) * relevance + w_s * trend

(w_s: the reader's dial between "only my interests" and "mostly trending") and re-ordered by
maximal marginal relevance (MMR) among themselves, so that diversity may choose among relevant
papers but never adds an irrelevant one. Papers by followed authors are always eligible and
come first.

Everything is batched tensor work, chunked over readers so memory stays bounded whatever
their number: one facet matrix with owner rows and a segment max (scatter_reduce), no Python
loop over readers anywhere. On a CPU the chunks are cut into parts that the cores rank side
by side (see `_map_parts`).

Pure module (no Django): the caller gathers arrays and settings and passes them in.
"""

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

NEG_INF = float("-inf")
INT32_MAX = 2**31 - 1
# mmr_lambda below this ranks as if it were this: the order of "most different first".
MIN_MMR_LAMBDA = 1e-6
# Relevance of a followed author's paper: above any facet score, so it always comes first.
FOLLOWED = 10.0


@dataclass(frozen=True)
class Cells:
    """A sparse (rows x width) matrix as flat cells row * width + col, sorted, with values:
    each part of the readers finds its own cells with a binary search instead of scanning
    them all, and reaches them through one flat index. int32 cells where they all fit (they
    sort twice as fast as int64)."""

    cells: torch.Tensor
    values: torch.Tensor  # float32, same length
    width: int

    @classmethod
    def build(
        cls,
        *,
        rows: torch.Tensor,
        cols: torch.Tensor,
        width: int,
        values: torch.Tensor | None = None,
        device: torch.device | str = "cpu",
    ) -> "Cells":
        cells = rows.to(device, torch.int64) * width + cols.to(device, torch.int64)
        values = torch.ones(len(cells)) if values is None else values
        order = torch.argsort(cells)
        cells = cells[order]
        if len(cells) and cells[-1] < INT32_MAX:
            cells = cells.int()
        return cls(cells=cells, values=values.to(device, torch.float32)[order], width=width)

    @classmethod
    def empty(cls, *, width: int, device: torch.device | str = "cpu") -> "Cells":
        none = torch.zeros(0, dtype=torch.int64)
        return cls.build(rows=none, cols=none, width=width, device=device)

    def within(self, first_row: int, last_row: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(flat positions relative to first_row's start, values) of rows first..last-1."""
        start, stop = first_row * self.width, last_row * self.width
        bounds = [start, stop]
        if self.cells.dtype == torch.int32:
            # Past the largest int32 cell, INT32_MAX still bounds them all.
            bounds = [min(bound, INT32_MAX) for bound in bounds]
        bounds = torch.tensor(bounds, dtype=self.cells.dtype, device=self.cells.device)
        lo, hi = torch.searchsorted(self.cells, bounds).tolist()
        return self.cells[lo:hi].long() - start, self.values[lo:hi]


@dataclass(frozen=True)
class Readers:
    """Everything about S readers that ranking needs, as flat arrays.

    facets (F, D): unit rows, each owned by the reader row `facet_owner` (F,), non-decreasing;
    facet_group (F,): the interest a facet serves, for diversity across interests (a liked
    paper serves the topic it is closest to; ids are global, any numbering);
    facet_offset (F,): added to all of a facet's scores (two abstracts are more alike than a
    topic and an abstract); facet_bonus: (F x P) cells added to a facet's cosine (lexical
    scores, category boosts).
    negatives (N, D): papers marked "less like this", owned by `negative_owner` (N,),
    non-decreasing. taste (S, D + 1): per-reader logistic weights and bias, zero rows for
    readers without a fitted classifier (they score exactly 1/2: no effect).
    trending_weight (S,): each reader's dial in [0, 1]. followed: (S x P) cells of papers by
    authors they follow. restricted (S,) bool with allowed (S x P) cells: readers who want
    only the papers of their categories, and which those are. exclude: (S x P) cells never to
    rank (papers already sent)."""

    facets: torch.Tensor
    facet_owner: torch.Tensor
    facet_group: torch.Tensor
    facet_offset: torch.Tensor
    facet_bonus: Cells
    negatives: torch.Tensor
    negative_owner: torch.Tensor
    taste: torch.Tensor | None
    trending_weight: torch.Tensor
    followed: Cells
    restricted: torch.Tensor
    allowed: Cells
    exclude: Cells

    @property
    def count(self) -> int:
        return len(self.trending_weight)


@dataclass(frozen=True)
class Weights:
    """How the parts of relevance are mixed; `threshold` decides what is personal at all."""

    threshold: float
    dislike_weight: float = 1.0
    dislike_floor: float = 0.5
    taste_weight: float = 0.3
    mmr_lambda: float = 0.7
    facet_share: float = 0.05
    expansion: float = 0.0
    expansion_papers: int = 3


@dataclass(frozen=True)
class RankResult:
    """(S, k) per reader, best first, on the CPU. Where fewer than k papers are eligible,
    indices are -1, facets -1 and the float fields NaN."""

    indices: torch.Tensor  # int64 candidate column
    scores: torch.Tensor  # float32 ordering score
    relevance: torch.Tensor  # float32
    trending: torch.Tensor  # float32 trending score normalised to [0, 1]
    facet: torch.Tensor  # int64 global facet row that matched best, -1 if none
    followed: torch.Tensor  # bool: by an author the reader follows


@dataclass(frozen=True)
class _Setup:
    """What every part shares, on the ranking device."""

    candidates: torch.Tensor  # (P, D) float32
    trend: torch.Tensor  # (P,) normalised to [0, 1]
    hidden: torch.Tensor  # (P,) bool
    pair_sims: torch.Tensor  # (P, P) candidate-candidate cosine, for MMR
    weights: Weights
    pool: int  # M eligible candidates pre-selected per reader for MMR
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


def rank_for_readers(
    *,
    readers: Readers,
    candidates: torch.Tensor,
    trending: torch.Tensor,
    hidden: torch.Tensor | None = None,
    k: int,
    weights: Weights,
    pool: int | None = None,
    chunk_size: int = 4096,
    device: str | torch.device = "cpu",
) -> RankResult:
    """The personal section of each of S readers: up to k eligible candidates, best first.

    candidates (P, D): unit rows; trending (P,): raw finite scores; hidden (P,) bool:
    moderated papers. pool: eligible candidates pre-selected by score for MMR (default 4k).
    At most chunk_size readers are scored at once (their facets, about 3 x chunk_size x P
    floats), plus P x P once for candidate similarities."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if not 0.0 <= weights.mmr_lambda <= 1.0:
        raise ValueError(f"mmr_lambda must be within [0, 1], got {weights.mmr_lambda}")
    if not torch.isfinite(trending).all():
        raise ValueError("trending scores must be finite")
    device = torch.device(device)
    setup = _setup(
        candidates=candidates,
        trending=trending,
        hidden=hidden,
        k=k,
        weights=weights,
        pool=pool,
        device=device,
    )
    workers = torch.get_num_threads() if device.type == "cpu" else 1
    rows = _rows_per_part(chunk_size, workers)
    facet_starts = torch.searchsorted(
        readers.facet_owner.contiguous(), torch.arange(readers.count + 1)
    ).tolist()
    negative_starts = torch.searchsorted(
        readers.negative_owner.contiguous(), torch.arange(readers.count + 1)
    ).tolist()

    def rank_part(first: int) -> tuple[torch.Tensor, ...]:
        last = min(first + rows, readers.count)
        part = _Part(
            first=first,
            last=last,
            facets=(facet_starts[first], facet_starts[last]),
            negatives=(negative_starts[first], negative_starts[last]),
        )
        return _rank_part(readers, part, setup, device)

    parts = _map_parts(rank_part, range(0, readers.count, rows), workers)
    return _padded_result(parts or [_empty_part(setup)], picks=setup.picks, k=k)


def _setup(
    *,
    candidates: torch.Tensor,
    trending: torch.Tensor,
    hidden: torch.Tensor | None,
    k: int,
    weights: Weights,
    pool: int | None,
    device: torch.device,
) -> _Setup:
    candidates = candidates.to(device, torch.float32)
    hidden = (
        torch.zeros(len(candidates), dtype=torch.bool, device=device)
        if hidden is None
        else hidden.to(device, torch.bool)
    )
    pool_size = min(max(pool or 4 * k, k), len(candidates))
    return _Setup(
        candidates=candidates,
        trend=_normalised_trend(trending.to(device, torch.float32), hidden),
        hidden=hidden,
        pair_sims=candidates @ candidates.T,
        weights=weights,
        pool=pool_size,
        picks=min(k, pool_size),
        block=_pool_block(len(candidates), pool_size, device),
    )


@dataclass(frozen=True)
class _Part:
    """Readers first..last-1 and the ranges of their facet and negative rows."""

    first: int
    last: int
    facets: tuple[int, int]
    negatives: tuple[int, int]


def _segment_max(values: torch.Tensor, owners: torch.Tensor, rows: int) -> torch.Tensor:
    """(rows, P): per owner row the elementwise max of its rows of values; -inf for none."""
    out = torch.full((rows, values.shape[1]), NEG_INF, device=values.device)
    if len(values):
        index = owners[:, None].expand_as(values)
        out.scatter_reduce_(0, index, values, reduce="amax", include_self=True)
    return out


def _facet_scores(readers: Readers, part: _Part, setup: _Setup, device: torch.device):
    """Each facet's score for every candidate (Fc, P) and its owner row within the part."""
    lo, hi = part.facets
    facets = readers.facets[lo:hi].to(device, torch.float32)
    cells, values = readers.facet_bonus.within(lo, hi)
    cells, values = cells.to(device), values.to(device)
    offsets = readers.facet_offset[lo:hi].to(device, torch.float32)[:, None]
    scores = torch.addmm(offsets, facets, setup.candidates.T)
    scores.view(-1).index_add_(0, cells, values)
    if setup.weights.expansion > 0 and len(facets):
        columns = _feedback_papers(scores, setup)
        scores.view(-1).index_add_(0, cells, -values)  # the cosines alone again
        _expand(scores, facets, offsets, columns=columns, setup=setup)
        scores.view(-1).index_add_(0, cells, values)
    return scores, readers.facet_owner[lo:hi].to(device) - part.first


def _feedback_papers(scores: torch.Tensor, setup: _Setup) -> tuple[torch.Tensor, torch.Tensor]:
    """Per facet, its best few papers (by score with bonus) and their weights in the mean:
    1 / n for the n of them that pass the threshold, 0 for the others."""
    best, columns = scores.topk(min(setup.weights.expansion_papers, scores.shape[1]), dim=1)
    usable = (best >= setup.weights.threshold).to(torch.float32)
    return columns, usable / usable.sum(dim=1, keepdim=True).clamp_min(1.0)


def _expand(
    scores: torch.Tensor,
    facets: torch.Tensor,
    offsets: torch.Tensor,
    *,
    columns: tuple[torch.Tensor, torch.Tensor],
    setup: _Setup,
) -> None:
    """Pseudo-relevance feedback, in place: each facet f moves to the unit vector along
    f + e * m, m the mean of its best papers that already pass the threshold (Rocchio on its
    own results), and `scores` become its cosines. A topic of three words then also finds the
    papers that say it in other words; a facet with nothing relevant stays as it was.

    Without a second (facets x D) @ (D x P) product: m . c is the mean of the candidate
    similarities of those papers, rows of `pair_sims`, mixed by one sparse product (a tenth
    of the dense one's time), and |f + e * m| comes from the vectors."""
    picked, weights = columns
    e = setup.weights.expansion
    mean = (setup.candidates[picked] * weights[:, :, None]).sum(dim=1)  # (Fc, D)
    norm = (facets + e * mean).norm(dim=1, keepdim=True).clamp_min(1e-6)
    rows = torch.arange(len(picked), device=picked.device).repeat_interleave(picked.shape[1])
    # Valid by construction (rows in range, one entry per cell): no invariant checks.
    mix = torch.sparse_coo_tensor(
        torch.stack([rows, picked.flatten()]),
        (e * weights).flatten(),
        scores.shape,
        check_invariants=False,
    )
    scores.sub_(offsets).add_(torch.sparse.mm(mix, setup.pair_sims))
    scores.div_(norm).add_(offsets)


def _relevance(readers: Readers, part: _Part, setup: _Setup, device: torch.device):
    """(R, P) relevance of the part's readers, and the facet scores it came from."""
    rows = part.last - part.first
    facet_scores, owners = _facet_scores(readers, part, setup, device)
    relevance = _segment_max(facet_scores, owners, rows)
    lo, hi = part.negatives
    if hi > lo:
        negatives = readers.negatives[lo:hi].to(device, torch.float32) @ setup.candidates.T
        nearest = _segment_max(
            negatives, readers.negative_owner[lo:hi].to(device) - part.first, rows
        )
        floor = setup.weights.dislike_floor
        relevance -= setup.weights.dislike_weight * (nearest - floor).clamp_min(0.0)
    if readers.taste is not None:
        taste = readers.taste[part.first : part.last].to(device, torch.float32)
        relevance += setup.weights.taste_weight * _taste_boost(taste, setup.candidates)
    return relevance, facet_scores, owners


# A paper the reader's classifier ranks this many standard deviations above the day's mean
# starts to gain; at twice as many it gains the whole taste weight.
TASTE_FROM_SD = 1.0


def _taste_boost(taste: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """(R, P) in [0, 1]: how far above the day's papers a reader's classifier puts each one.

    A handful of likes fits a classifier whose probabilities say little in absolute terms, but
    whose order is telling (arxiv-sanity ranks by its SVM's margin alone), so the logits are
    standardised over the candidates. Only ever a boost: a classifier fitted on likes of one
    interest would otherwise veto the reader's other interests, which their likes say nothing
    about. A zero row (no classifier) has no spread and gains nothing."""
    logits = taste[:, :-1] @ candidates.T
    spread = logits.std(dim=1, keepdim=True)
    z = (logits - logits.mean(dim=1, keepdim=True)) / spread.clamp_min(1e-6)
    boost = ((z - TASTE_FROM_SD) / TASTE_FROM_SD).clamp(0.0, 1.0)
    return torch.where(spread > 1e-6, boost, 0.0)


def _rank_part(
    readers: Readers, part: _Part, setup: _Setup, device: torch.device
) -> tuple[torch.Tensor, ...]:
    """(indices, valid, scores, relevance, trending, facet, followed), each (R, picks)."""
    rows, width = part.last - part.first, len(setup.candidates)
    relevance, facet_scores, owners = _relevance(readers, part, setup, device)
    restricted = readers.restricted[part.first : part.last].to(device)
    if restricted.any():
        allowed = torch.zeros(rows * width, dtype=torch.bool, device=device)
        allowed[readers.allowed.within(part.first, part.last)[0].to(device)] = True
        relevance.masked_fill_(restricted[:, None] & ~allowed.view(rows, width), NEG_INF)
    followed = torch.zeros(rows * width, dtype=torch.bool, device=device)
    followed[readers.followed.within(part.first, part.last)[0].to(device)] = True
    followed = followed.view(rows, width)
    relevance.masked_fill_(followed, FOLLOWED)
    dial = readers.trending_weight[part.first : part.last].to(device, torch.float32)[:, None]
    scores = (1.0 - dial) * relevance + dial * setup.trend
    # Eligible: relevant enough, not hidden, not already sent.
    scores.masked_fill_((relevance < setup.weights.threshold) | setup.hidden, NEG_INF)
    scores.view(-1)[readers.exclude.within(part.first, part.last)[0].to(device)] = NEG_INF
    pool_scores, pool_index = _select_pool(scores, pool=setup.pool, block=setup.block)
    pool_facets = _best_facets(facet_scores, owners, pool_index, first_facet=part.facets[0])
    positions, valid = _mmr(
        pool_scores,
        pool_index,
        setup.pair_sims,
        picks=setup.picks,
        lam=setup.weights.mmr_lambda,
        pool_groups=_groups(readers.facet_group, pool_facets),
        facet_share=setup.weights.facet_share,
    )
    picked = pool_index.gather(1, positions)
    result = (
        picked,
        valid,
        pool_scores.gather(1, positions),
        relevance.gather(1, picked),
        setup.trend[picked],
        pool_facets.gather(1, positions),
        followed.gather(1, picked),
    )
    return tuple(value.cpu() for value in result)


def _groups(facet_group: torch.Tensor, facets: torch.Tensor) -> torch.Tensor:
    """The interest group of each facet row (-1 stays -1)."""
    if not len(facet_group):
        return torch.full_like(facets, -1)
    groups = facet_group.to(facets.device)[facets.clamp_min(0)]
    return torch.where(facets >= 0, groups, -1)


def _best_facets(
    facet_scores: torch.Tensor, owners: torch.Tensor, picked: torch.Tensor, *, first_facet: int
) -> torch.Tensor:
    """(R, picks) global row of the facet that scored each pick best (-1: reader has none)."""
    rows = len(picked)
    if not len(facet_scores):
        return torch.full_like(picked, -1)
    at_picks = facet_scores.gather(1, picked[owners])  # (Fc, picks)
    best = _segment_max(at_picks, owners, rows)
    winners = at_picks >= best[owners]
    numbers = torch.arange(len(owners), device=owners.device)[:, None].expand_as(at_picks)
    candidates = torch.where(winners, numbers, len(owners))
    first = torch.full_like(picked, len(owners))
    first.scatter_reduce_(0, owners[:, None].expand_as(at_picks), candidates, reduce="amin")
    return torch.where(first < len(owners), first + first_facet, -1)


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
    pool_groups: torch.Tensor,
    facet_share: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy MMR for a part of the readers at once: each step takes, per row, the pool item
    maximising lam * score - (1 - lam) * (highest cosine to an item already taken), less
    `facet_share` for each item already taken for the same facet: a reader's second paper on
    one interest must beat their first on another by that much, so every interest is served
    while the relevant papers last (aspect diversification, as xQuAD does).

    scores (C, M) with -inf for unusable items; pool_index (C, M) their candidate rows;
    pair_sims (P, P); pool_groups (C, M) the interest each item matched best. Returns pool
    positions (C, picks) in pick order and whether each pick is a real candidate."""
    # Same argmax as lam * score - (1 - lam) * nearest, in one operation, with unusable items
    # staying at -inf. The floor on lam keeps 0 meaning "least similar first" (score breaks
    # ties) instead of 0 * -inf = nan.
    penalty = (1.0 - lam) / max(lam, MIN_MMR_LAMBDA)
    available = scores.clone()
    nearest = None  # before the first pick no item is penalised
    positions = torch.zeros((len(scores), picks), dtype=torch.int64, device=scores.device)
    valid = torch.zeros((len(scores), picks), dtype=torch.bool, device=scores.device)
    served = torch.zeros_like(scores)  # items taken so far for each item's facet
    for step in range(picks):
        values = available if nearest is None else available.add(nearest, alpha=-penalty)
        values = values.add(served, alpha=-facet_share / max(lam, MIN_MMR_LAMBDA))
        # The best value is finite exactly when the item is usable: an all -inf row still
        # yields a position, which marks the end of that row's candidates.
        best_value, best = values.max(dim=1, keepdim=True)
        valid[:, step : step + 1] = best_value.isfinite()
        positions[:, step : step + 1] = best
        available.scatter_(1, best, NEG_INF)
        if step + 1 < picks:
            sims = _sims_to_pick(pool_index.gather(1, best), pool_index, pair_sims)
            nearest = sims if nearest is None else torch.maximum(nearest, sims, out=nearest)
            served += pool_groups == pool_groups.gather(1, best)
    return positions, valid


def _sims_to_pick(
    chosen: torch.Tensor, pool_index: torch.Tensor, pair_sims: torch.Tensor
) -> torch.Tensor:
    """(C, M) cosine of each pool item to its row's new pick (C, 1). Only that row of
    similarities: picks x M per subscriber, not the M x M pool matrix, whose gather would
    cost more than the whole ranking."""
    return torch.take(pair_sims, chosen * len(pair_sims) + pool_index)


def _empty_part(setup: _Setup) -> tuple[torch.Tensor, ...]:
    index = torch.zeros((0, setup.picks), dtype=torch.int64)
    values = torch.zeros((0, setup.picks))
    return index, index.bool(), values, values, values, index, index.bool()


def _padded_result(parts: list[tuple[torch.Tensor, ...]], *, picks: int, k: int) -> RankResult:
    picked, valid, scores, relevance, trend, facet, followed = (
        torch.cat(part) for part in zip(*parts, strict=True)
    )
    width = (0, k - picks)  # fewer candidates than k: pad on the right
    pad = torch.nn.functional.pad
    return RankResult(
        indices=pad(picked.masked_fill(~valid, -1), width, value=-1),
        scores=_pad_nan(scores, valid, width),
        relevance=_pad_nan(relevance, valid, width),
        trending=_pad_nan(trend, valid, width),
        facet=pad(facet.masked_fill(~valid, -1), width, value=-1),
        followed=pad(followed & valid, width, value=False),
    )


def _pad_nan(values: torch.Tensor, valid: torch.Tensor, width: tuple[int, int]) -> torch.Tensor:
    nan = float("nan")
    return torch.nn.functional.pad(values.masked_fill(~valid, nan), width, value=nan)
