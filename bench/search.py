"""Exact nearest-neighbour search over an in-memory float32 matrix: is it fast enough?

Times `VectorIndex.nearest` (what search and related papers use) against a bare
`matrix @ q` + `argpartition` on the same matrix and queries, in the same run.

    .venv/bin/python bench/search.py --sizes 100000 300000
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digest.settings")
import django

django.setup()

from digest.services.embedding.index import VectorIndex  # noqa: E402

DIM, K = 384, 20


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = rng.standard_normal((n, DIM), dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def timed(fn, queries: np.ndarray) -> float:
    """Median seconds per query."""
    fn(queries[0])
    samples = []
    for query in queries:
        started = time.perf_counter()
        fn(query)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    queries = unit_rows(rng, args.queries)
    print(f"{'papers':>8} {'ours ms':>9} {'bare ms':>9} {'ratio':>6} {'memory MB':>10}")
    for size in args.sizes:
        matrix = unit_rows(rng, size)
        ids = tuple(f"p{i}" for i in range(size))
        index = VectorIndex(
            model_name="bench",
            ids=ids,
            matrix=matrix,
            positions={pk: i for i, pk in enumerate(ids)},
            stamp=(),
        )
        hidden = {f"p{i}" for i in range(0, size, 1000)}  # moderation-hidden papers skipped

        def ours(query, index=index, hidden=hidden):
            return index.nearest(query, k=K, exclude=hidden)

        def bare(query, matrix=matrix):
            return np.argpartition(-(matrix @ query), K)[:K]

        ours_s, bare_s = timed(ours, queries), timed(bare, queries)
        print(
            f"{size:>8} {ours_s * 1e3:>9.2f} {bare_s * 1e3:>9.2f} {ours_s / bare_s:>6.2f} "
            f"{matrix.nbytes / 2**20:>10.0f}"
        )


if __name__ == "__main__":
    main()
