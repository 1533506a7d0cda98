"""Which approximate index: USearch (int8 and fp16 graphs) against FAISS HNSW (float32), on
the corpus of bench/scale.py (the recorded papers' real vectors copied with small noise),
with the same exact re-scoring of the candidates as `ApproximateIndex`. Prints build time,
search p50/p95 and recall@10 against exact search; asserts nothing.

    .venv/bin/pip install faiss-cpu==1.15.1    # for this comparison only, not a dependency
    PYTHONPATH=. .venv/bin/python bench/ann_libraries.py --size 100000

hnswlib is not compared: the registry has no wheel of it for this Python (a C++ build), and
like FAISS's HNSW it loads the whole graph into each process, where a USearch graph is
memory-mapped and shared (the target: at most 50 MiB of private memory per extra process).
"""

import argparse
import os
import time

import numpy as np

from bench.scale import K, noisy_copies

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digest.settings")


def recorded_vectors() -> np.ndarray:
    """The recorded arXiv pages embedded with the real model (no database needed)."""
    from bench._common import RECORDED
    from digest.services.embedding.embedder import paper_text
    from digest.services.embedding.papers import current_embedder
    from digest.services.sources.arxiv_feed import parse_api_page

    records = [
        record
        for page in sorted((RECORDED / "arxiv").glob("cs_query_start*.xml"))
        for record in parse_api_page(page.read_bytes()).records
    ]
    return current_embedder().encode(
        [paper_text(title=r.title, abstract=r.abstract) for r in records]
    )


def evaluate(name: str, search, corpus: np.ndarray, queries: np.ndarray, exact: list) -> None:
    seconds, recall = [], []
    for query, wanted in zip(queries, exact, strict=True):
        started = time.perf_counter()
        candidates = np.asarray(search(query), dtype=np.int64)
        best = candidates[np.argsort(-(corpus[candidates] @ query))[:K]]
        seconds.append(time.perf_counter() - started)
        recall.append(len(set(best) & wanted) / K)
    p50, p95 = np.percentile(seconds, 50) * 1e3, np.percentile(seconds, 95) * 1e3
    print(f"{name:<34} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  recall@{K} {np.mean(recall):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--noise", type=float, default=0.02)
    args = parser.parse_args()
    import django

    django.setup()
    import faiss
    from usearch.index import Index

    rng = np.random.default_rng(0)
    base = recorded_vectors()
    corpus = noisy_copies(base, args.size, noise=args.noise, rng=rng)
    queries = noisy_copies(base, 100, noise=args.noise, rng=rng)
    exact = [set(np.argpartition(-(corpus @ q), K)[:K]) for q in queries]
    print(f"{args.size:,} noisy copies of {len(base)} recorded papers, 100 queries, 2 threads")
    for dtype in ("i8", "f16"):
        graph = Index(
            ndim=corpus.shape[1], metric="cos", dtype=dtype, connectivity=16, expansion_add=128
        )
        started = time.time()
        graph.add(np.arange(args.size, dtype=np.uint64), corpus, threads=2)
        print(f"usearch {dtype}: built in {time.time() - started:.0f}s")
        for ef in (64, 128, 256):
            graph.expansion_search = ef
            for fetch in (40, 100):
                evaluate(
                    f"  usearch {dtype} ef {ef}, fetch {fetch}",
                    lambda q, n=fetch, g=graph: g.search(q, n).keys,
                    corpus,
                    queries,
                    exact,
                )
    faiss.omp_set_num_threads(2)
    graph = faiss.IndexHNSWFlat(corpus.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = 128
    started = time.time()
    graph.add(corpus)
    print(f"faiss HNSW flat: built in {time.time() - started:.0f}s")
    for ef in (64, 128, 256):
        graph.hnsw.efSearch = ef
        for fetch in (40, 100):
            evaluate(
                f"  faiss flat ef {ef}, fetch {fetch}",
                lambda q, n=fetch, g=graph: g.search(q[None], n)[1][0],
                corpus,
                queries,
                exact,
            )


if __name__ == "__main__":
    main()
