"""Scale: the shared vector index at 100k, 300k and 1M papers, and planning for 100k readers,
measured in one run. Prints figures; asserts nothing.

    PYTHONPATH=. .venv/bin/python bench/scale.py --sizes 100000 300000 1000000 --readers 100000

The corpus: the recorded papers (../shared/data: arXiv pages and the Hugging Face day),
replayed and embedded with the real model into a database of its own (`digest_bench_scale`,
dropped at the end), then their real vectors copied with small Gaussian noise to new ids up to
each size, written to the app's own index files (as the embed worker appends) so that the
app's `paper_index()` serves them; the originals stay out (see `grow_to`). Queries are further
noisy copies, not in the corpus.

Per size: search p50/p95 over the queries, exact and approximate (the graph built as the
embed worker builds it, timed), recall@10 of the approximate index against exact; RSS, PSS
and USS of 1, 2 and 4 processes that each open the index the app would use at that size and
search it, against a process that imports the same and opens nothing; the time from 1,000 new
papers' vectors committed (the embed service's store, their vectors noisy copies too: no model
work is timed) until a running process finds them. Then planning `--readers` readers through
`delivery.plan` (ranking and writing timed per batch, from its log), and 1M readers
extrapolated from the measured per-batch costs.
"""

import argparse
import copy
import logging
import multiprocessing
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np

from bench import _common as common
from bench.send import TOPICS

DATABASE = "digest_bench_scale"
K = 10
NEW_PAPERS = 1000


def noisy_copies(base: np.ndarray, n: int, *, noise: float, rng: np.random.Generator):
    rows = base[rng.integers(len(base), size=n)] + rng.normal(0, noise, (n, base.shape[1]))
    rows = rows.astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def setup(index_dir: Path) -> np.ndarray:
    """The bench database with the recorded corpus embedded; returns its real vectors."""
    environment = common.server_environment(
        database=DATABASE, DIGEST_INDEX_DIR=str(index_dir), LOG_LEVEL="INFO"
    )
    common.prepare(environment, database=DATABASE)
    from django.core.management import call_command

    from digest.models import Paper
    from digest.services.embedding.index import paper_index
    from digest.services.embedding.papers import embed_missing_papers
    from digest.services.sources.fetch import replay
    from digest.services.trending import recompute_trending

    call_command("migrate", verbosity=0)
    pages = sorted((common.RECORDED / "arxiv").glob("cs_query_start*.xml"))
    replay(paths=[*pages, common.RECORDED / "huggingface" / "daily_papers_2026-06-12.json"])
    started = time.perf_counter()
    summary = embed_missing_papers()
    recompute_trending()
    print(f"{summary.embedded} recorded papers embedded in {time.perf_counter() - started:.0f}s")
    vectors, _ = paper_index().vectors(list(Paper.objects.values_list("pk", flat=True)))
    return vectors


def rebuild_from_database():
    """The app's index files dropped and built again from the database, as after a loss."""
    from django.conf import settings

    from digest.services.embedding.index import index_folder, sync_index
    from digest.services.embedding.vector_store import fresh, writing

    folder = index_folder(settings.DIGEST_EMBEDDING_MODEL)
    with writing(folder):
        fresh(folder, model_name=settings.DIGEST_EMBEDDING_MODEL)
        (folder / "manifest.json").unlink(missing_ok=True)
    return sync_index(model_name=settings.DIGEST_EMBEDDING_MODEL)


def grow_to(size: int, base: np.ndarray, *, noise: float, rng: np.random.Generator):
    """The app's index made of `size` noisy copies, published as current for the database
    (the embed worker's next sync appends what is stored after it); returns the manifest.
    The recorded originals themselves stay out: beside thousands of copies each, every one
    would be a hub that HNSW links its copies to and little else, which no real corpus is."""
    from django.conf import settings

    from digest.services.embedding.index import index_folder
    from digest.services.embedding.vector_store import append, fresh, publish, writing

    synced = rebuild_from_database()
    folder = index_folder(settings.DIGEST_EMBEDDING_MODEL)
    with writing(folder):
        empty = fresh(folder, model_name=synced.model_name)
        manifest = replace(empty, source=synced.source, cursor=synced.cursor)
        for start in range(0, size, 100_000):
            n = min(100_000, size - start)
            ids = [f"s{i:07d}" for i in range(start, start + n)]
            rows = noisy_copies(base, n, noise=noise, rng=rng)
            manifest = append(folder, manifest, ids=ids, vectors=rows, cursor=manifest.cursor)
        return publish(folder, manifest)


def timings(index, queries: np.ndarray) -> tuple[list, list[float]]:
    index.nearest(queries[0], k=K)
    results, seconds = [], []
    for query in queries:
        started = time.perf_counter()
        results.append([pk for pk, _ in index.nearest(query, k=K)])
        seconds.append(time.perf_counter() - started)
    return results, seconds


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(values, share * 100))


def memory() -> dict[str, int]:
    """This process's RSS, PSS and USS in KiB (Linux /proc/self/smaps_rollup)."""
    fields = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value)
    uss = fields["Private_Clean"] + fields["Private_Dirty"]
    return {"rss": fields["Rss"], "pss": fields["Pss"], "uss": uss, "anon": fields["Anonymous"]}


def searcher(queries_path: str, open_index: bool, measured, ready, done) -> None:
    """A process like a web worker: Django, the index the app would open, 100 searches."""
    import django

    django.setup()
    from digest.services.embedding import vector_store  # noqa: F401 (imported as a worker does)
    from digest.services.embedding.index import paper_index

    if open_index:
        index = paper_index()
        for query in np.load(queries_path):
            index.nearest(query, k=K)
    ready.wait()  # everyone has searched: each measures while the others are alive
    measured.put(memory())
    done.wait()


def process_memory(queries_path: str, processes: int, *, open_index: bool) -> list[dict]:
    spawn = multiprocessing.get_context("spawn")
    measured, done = spawn.Queue(), spawn.Event()
    ready = spawn.Barrier(processes)
    workers = [
        spawn.Process(target=searcher, args=(queries_path, open_index, measured, ready, done))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    figures = [measured.get(timeout=900) for _ in workers]
    done.set()
    for worker in workers:
        worker.join(60)
    return figures


def watcher(new_ids: list[str], started, found) -> None:
    """A running process that polls, as requests would, until every new paper is found."""
    import django

    django.setup()
    from digest.services.embedding.index import paper_index

    paper_index()
    started.set()
    while True:
        index = paper_index()
        vectors, present = index.vectors(new_ids)
        if present.all() and all(
            index.nearest(vector, k=1)[0][0] == pk
            for pk, vector in zip(new_ids[:20], vectors[:20], strict=True)
        ):
            found.put(time.time())
            return
        time.sleep(0.05)


def freshness(base: np.ndarray, size: int, *, noise: float, rng: np.random.Generator) -> tuple:
    """Seconds from 1,000 new vectors committed to a running process finding them all, and
    the embed worker's index refresh time."""
    from django.conf import settings

    from digest.models import Paper
    from digest.services.embedding.index import refresh_index
    from digest.services.embedding.papers import store_vectors

    sources = list(Paper.objects.all()[:NEW_PAPERS])
    papers = []
    for i in range(NEW_PAPERS):
        paper = copy.copy(sources[i % len(sources)])
        paper.arxiv_id = f"n{size}-{i:04d}"
        papers.append(paper)
    Paper.objects.bulk_create(papers)  # ingested; their embedding is what we time from
    new_ids = [paper.pk for paper in papers]
    spawn = multiprocessing.get_context("spawn")
    started, found = spawn.Event(), spawn.Queue()
    process = spawn.Process(target=watcher, args=(new_ids, started, found))
    process.start()
    started.wait(600)
    committed = time.time()
    model_name = settings.DIGEST_EMBEDDING_MODEL
    store_vectors(
        new_ids, noisy_copies(base, NEW_PAPERS, noise=noise, rng=rng), model_name=model_name
    )
    refreshing = time.perf_counter()
    refresh_index(model_name=model_name)
    refreshed = time.perf_counter() - refreshing
    seen = found.get(timeout=600) - committed
    process.join(30)
    return seen, refreshed


def measure_size(size: int, base: np.ndarray, args, rng: np.random.Generator) -> None:
    from django.conf import settings

    from digest.services.embedding.index import index_folder
    from digest.services.embedding.vector_store import (
        ApproximateIndex,
        ExactIndex,
        build_graph,
        publish,
        writing,
    )

    started = time.perf_counter()
    manifest = grow_to(size, base, noise=args.noise, rng=rng)
    grown = time.perf_counter() - started
    folder = index_folder(settings.DIGEST_EMBEDDING_MODEL)
    started = time.perf_counter()
    manifest = build_graph(folder, manifest)
    with writing(folder):
        manifest = publish(folder, manifest)
    built = time.perf_counter() - started
    print(f"\n{size:,} papers: rows appended in {grown:.0f}s, graph built in {built:.0f}s")

    queries = noisy_copies(base, args.queries, noise=args.noise, rng=rng)
    exact_hits, exact_s = timings(ExactIndex(folder, manifest), queries)
    approximate_hits, approximate_s = timings(ApproximateIndex(folder, manifest), queries)
    recall = statistics.mean(
        len(set(a) & set(e)) / K for a, e in zip(approximate_hits, exact_hits, strict=True)
    )
    for name, seconds in (("exact", exact_s), ("approximate", approximate_s)):
        p50, p95 = percentile(seconds, 0.5) * 1e3, percentile(seconds, 0.95) * 1e3
        print(f"  search {name:<12} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
    print(f"  recall@{K} approximate against exact: {recall:.4f}")

    kind = "approximate" if size >= settings.DIGEST_INDEX_APPROXIMATE_FROM else "exact"
    with tempfile.NamedTemporaryFile(suffix=".npy") as handle:
        np.save(handle.name, queries)
        baseline = process_memory(handle.name, 1, open_index=False)[0]
        print(
            f"  memory, the app's {kind} index, MiB per process; a process that opened none: "
            f"RSS {baseline['rss'] / 1024:.0f}, USS {baseline['uss'] / 1024:.0f}, "
            f"anonymous {baseline['anon'] / 1024:.0f}"
        )
        for processes in args.processes:
            figures = process_memory(handle.name, processes, open_index=True)
            mean = {key: statistics.mean(f[key] for f in figures) / 1024 for key in baseline}
            print(
                f"  {processes} processes: RSS {mean['rss']:6.0f}  PSS {mean['pss']:6.0f}  "
                f"USS {mean['uss']:6.0f} (+{mean['uss'] - baseline['uss'] / 1024:.1f})  "
                f"anonymous +{mean['anon'] - baseline['anon'] / 1024:.1f}"
            )
    print(
        "  (USS counts the mapped index pages of a process that is alone to map them; "
        "anonymous memory is what no other process can share)"
    )
    seen, refreshed = freshness(base, size, noise=args.noise, rng=rng)
    print(
        f"  {NEW_PAPERS} new papers searchable in a running process {seen:.1f}s after their "
        f"vectors were committed (the embed worker's index refresh: {refreshed:.1f}s)"
    )


class PlanLog(logging.Handler):
    """The per-batch figures `delivery.plan` logs."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.batches: list[tuple[int, int, float, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("planned"):
            _, _, _, readers, digests, ranking, writing = record.args
            self.batches.append((readers, digests, ranking, writing))


def make_readers(n: int) -> list[int]:
    """`n` readers of one of TOPICS each, their topic vectors cached as after their first
    digest (the model embeds each distinct topic once here, not once a reader)."""
    from django.conf import settings

    from digest.models import Subscriber
    from digest.services.batching import batched
    from digest.services.embedding.papers import current_embedder
    from digest.services.embedding.vector_store import to_bytes
    from digest.services.ranking.digests import topics_of

    cached = {}
    for text in TOPICS:
        topics = topics_of(Subscriber(interests=text))
        cached[text] = to_bytes(current_embedder().encode(topics))
    for batch in batched(range(n), 10_000):
        Subscriber.objects.bulk_create(
            Subscriber(
                email=f"reader{i}@example.org",
                status=Subscriber.Status.ACTIVE,
                interests=TOPICS[i % len(TOPICS)],
                topic_vectors=cached[TOPICS[i % len(TOPICS)]],
                interest_model=settings.DIGEST_EMBEDDING_MODEL,
            )
            for i in batch
        )
    return list(Subscriber.objects.order_by("pk").values_list("pk", flat=True))


def measure_planning(readers: int, day: date) -> None:
    from digest.models import DeliveryItem
    from digest.services.delivery import PLAN_BATCH, plan
    from digest.services.ranking.digests import candidate_papers

    subscriber_ids = make_readers(readers)
    candidates = len(candidate_papers(day=day).ids)
    handler = PlanLog()
    logging.getLogger("digest.services.delivery").addHandler(handler)
    started = time.perf_counter()
    planned = plan(day=day, subscriber_ids=subscriber_ids)
    total = time.perf_counter() - started
    logging.getLogger("digest.services.delivery").removeHandler(handler)
    ranking = sum(b[2] for b in handler.batches)
    writing = sum(b[3] for b in handler.batches)
    items = DeliveryItem.objects.count()
    print(
        f"\nplanning {readers:,} readers for {day} ({candidates} candidates, batches of "
        f"{PLAN_BATCH}): {len(planned):,} digests, {items:,} items in {total:.1f}s, "
        f"{total / readers * 1e3:.2f} ms a reader"
    )
    print(f"  ranking {ranking:.1f}s ({ranking / readers * 1e3:.2f} ms a reader)")
    print(f"  writing {writing:.1f}s ({writing / readers * 1e3:.2f} ms a reader)")
    steady = handler.batches[1:] or handler.batches  # the first batch warms the model up
    per_rank = statistics.mean(b[2] / b[0] for b in steady)
    per_write = statistics.mean(b[3] / b[0] for b in steady)
    for name, per_reader in (("ranking", per_rank), ("writing", per_write)):
        print(
            f"  1,000,000 readers, {name} extrapolated from the per-batch costs: "
            f"{per_reader * 1e6 / 60:.1f} min"
        )
    print(
        f"  1,000,000 readers in all: {(per_rank + per_write) * 1e6 / 60:.1f} min, "
        f"{(per_rank + per_write) * 1e3:.2f} ms a reader"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--noise", type=float, default=0.02, help="per dimension")
    parser.add_argument("--day", type=date.fromisoformat, default=date(2026, 6, 12))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    (common.ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=common.ROOT / "var") as folder:
        base = setup(Path(folder))
        try:
            check = noisy_copies(base, 1000, noise=args.noise, rng=np.random.default_rng(1))
            closest = (check @ base.T).max(axis=1)
            print(
                f"corpus: the {len(base)} recorded papers' real vectors, each copy with Gaussian "
                f"noise of {args.noise} a dimension (cosine to its original: median "
                f"{np.median(closest):.3f}) under a new id; the originals not in the index"
            )
            for size in args.sizes:
                measure_size(size, base, args, rng)
            if args.readers:
                rebuild_from_database()  # the recorded papers are the candidates
                measure_planning(args.readers, args.day)
        finally:
            common.clean_up(None, database=DATABASE, redis=None)


if __name__ == "__main__":
    main()
