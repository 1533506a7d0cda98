"""Personal ranking throughput: `rank_for_subscribers` (trending mix, exclusions, hidden papers,
MMR) against a bare chunked `torch.topk(U @ P.T, k)` on the same data, chunks and device, in
the same run. Prints figures; asserts nothing.

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
from digest.services.ranking.personal import rank_for_subscribers

K, POOL, DIM = 10, 40, 384
EXCLUDED_SHARE = 0.01  # about what a month of daily digests leaves out of a week's candidates
HIDDEN = 5


def unit_rows(n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(n, DIM, generator=generator), dim=1)


def make_case(subscribers: int, papers: int, *, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    excluded = int(subscribers * papers * EXCLUDED_SHARE)
    hidden = torch.zeros(papers, dtype=torch.bool)
    hidden[torch.randperm(papers, generator=generator)[:HIDDEN]] = True
    return {
        "interests": unit_rows(subscribers, generator),
        "candidates": unit_rows(papers, generator),
        "trending": torch.rand(papers, generator=generator) * 20,
        "exclude": (
            torch.randint(0, subscribers, (excluded,), generator=generator),
            torch.randint(0, papers, (excluded,), generator=generator),
        ),
        "hidden": hidden,
    }


def ours(case: dict, *, chunk_size: int, device: str) -> torch.Tensor:
    return rank_for_subscribers(
        **case,
        k=K,
        relevance_weight=0.7,
        trending_weight=0.3,
        mmr_lambda=0.7,
        pool=POOL,
        chunk_size=chunk_size,
        device=device,
    ).indices


def bare(case: dict, *, chunk_size: int, device: str) -> torch.Tensor:
    candidates = case["candidates"].to(device)
    interests = case["interests"]
    return torch.cat(
        [
            torch.topk(
                interests[first : first + chunk_size].to(device) @ candidates.T, K
            ).indices.cpu()
            for first in range(0, len(interests), chunk_size)
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
    print(f"P={args.papers} candidates, D={DIM}, k={K}, MMR pool {POOL}, chunk {args.chunk_size}")
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
