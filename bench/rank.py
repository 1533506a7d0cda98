"""Personal ranking throughput: `rank_for_readers` (readers of three facets each, best-facet
relevance with lexical bonuses, dislikes, threshold, pseudo-relevance expansion, exclusions,
hidden papers, MMR across interests) against the bare work of the same shape: chunked
`facets @ P.T`, the max over each reader's facets and `torch.topk`, on the same data, chunks
and device, in the same run. Prints figures; asserts nothing.

    PYTHONPATH=. .venv/bin/python bench/rank.py --device cpu --sizes 10000 100000
"""

import argparse
import os
import statistics
import time
from collections.abc import Callable
from functools import partial

import torch

from digest.services.embedding.embedder import resolve_device
from digest.services.ranking.personal import Cells, Readers, Weights, rank_for_readers

K, POOL, DIM = 10, 40, 384
FACETS = 3  # topics, categories and liked papers of a typical reader
EXCLUDED_SHARE = 0.01  # about what a month of daily digests leaves out of a week's candidates
LEXICAL_SHARE = 0.02  # (facet, paper) pairs that share a word
HIDDEN = 5
WEIGHTS = Weights(threshold=0.1, mmr_lambda=0.8, facet_share=0.05, expansion=0.5)


def unit_rows(n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(n, DIM, generator=generator), dim=1)


def _cells(rows: int, width: int, share: float, generator: torch.Generator) -> Cells:
    count = int(rows * width * share)
    return Cells.build(
        rows=torch.randint(0, rows, (count,), generator=generator),
        cols=torch.randint(0, width, (count,), generator=generator),
        width=width,
        values=torch.rand(count, generator=generator),
    )


def make_case(subscribers: int, papers: int, *, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.zeros(papers, dtype=torch.bool)
    hidden[torch.randperm(papers, generator=generator)[:HIDDEN]] = True
    facets = subscribers * FACETS
    none = Cells.empty(width=papers)
    readers = Readers(
        facets=unit_rows(facets, generator),
        facet_owner=torch.arange(subscribers).repeat_interleave(FACETS),
        facet_group=torch.arange(facets),
        facet_offset=torch.zeros(facets),
        facet_bonus=_cells(facets, papers, LEXICAL_SHARE, generator),
        negatives=unit_rows(subscribers // 10, generator),
        negative_owner=torch.arange(subscribers // 10) * 10,
        taste=None,
        trending_weight=torch.zeros(subscribers),
        followed=none,
        restricted=torch.zeros(subscribers, dtype=torch.bool),
        allowed=none,
        exclude=_cells(subscribers, papers, EXCLUDED_SHARE, generator),
    )
    return {
        "readers": readers,
        "candidates": unit_rows(papers, generator),
        "trending": torch.rand(papers, generator=generator) * 20,
        "hidden": hidden,
    }


def ours(case: dict, *, chunk_size: int, device: str) -> torch.Tensor:
    return rank_for_readers(
        **case, k=K, weights=WEIGHTS, pool=POOL, chunk_size=chunk_size, device=device
    ).indices


def bare(case: dict, *, chunk_size: int, device: str) -> torch.Tensor:
    """The least any multi-facet ranking does: every facet's cosines, each reader's best
    facet (a reshape: every reader has FACETS facets here) and the top k."""
    candidates = case["candidates"].to(device)
    facets = case["readers"].facets
    rows = chunk_size * FACETS
    return torch.cat(
        [
            torch.topk(
                (facets[first : first + rows].to(device) @ candidates.T)
                .view(-1, FACETS, len(candidates))
                .amax(dim=1),
                K,
            ).indices.cpu()
            for first in range(0, len(facets), rows)
        ]
    )


def seconds(runs: dict[str, Callable[[], torch.Tensor]], *, repeats: int) -> dict[str, list]:
    """Timed runs per contender after one warm-up each (kernels, allocator). Runs alternate
    so that drifting machine speed (shared cores, clocks) hits both alike."""
    for run in runs.values():
        run()
    times: dict[str, list] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()  # results end on the host: the device has finished
            times[name].append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--papers", type=int, default=2_000)
    parser.add_argument("--chunk-size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "host CPU"
    print(f"device {device} ({name}), torch threads {torch.get_num_threads()}")
    print(
        f"P={args.papers} candidates, D={DIM}, {FACETS} facets a reader, k={K}, "
        f"MMR pool {POOL}, chunk {args.chunk_size}, expansion {WEIGHTS.expansion}"
    )
    print(
        f"{'S':>9} {'bare topk':>12} {'ours':>12} {'ratio':>7} {'paired':>7} "
        f"{'subscribers/s':>15} {'load':>5}"
    )
    for subscribers in args.sizes:
        case = make_case(subscribers, args.papers)
        options = {"chunk_size": args.chunk_size, "device": device}
        times = seconds(
            {"bare": partial(bare, case, **options), "ours": partial(ours, case, **options)},
            repeats=args.repeats,
        )
        bare_s, ours_s = min(times["bare"]), min(times["ours"])
        # Each round times both back to back: on shared cores the median of the rounds'
        # ratios moves less with other people's load than the ratio of the two minima.
        rounds = zip(times["ours"], times["bare"], strict=True)
        paired = statistics.median(o / b for o, b in rounds)
        print(
            f"{subscribers:>9,} {bare_s * 1e3:>10.1f}ms {ours_s * 1e3:>10.1f}ms "
            f"{ours_s / bare_s:>6.2f}x {paired:>6.2f}x {subscribers / ours_s:>15,.0f} "
            f"{os.getloadavg()[0]:>5.1f}   (medians {statistics.median(times['bare']) * 1e3:.1f}"
            f" / {statistics.median(times['ours']) * 1e3:.1f}ms)"
        )


if __name__ == "__main__":
    main()
