"""Relevance of the personal digest against the peers' methods, on hand-labelled readers.

The recorded arXiv pages, the arXiv "testing" search and the Hugging Face day of
../shared/data (430 papers) are replayed into a database of the bench's own, embedded and
scored as in production. `bench/relevance_labels.json` holds 12 readers written as people
fill in the signup form, with the papers each wants (core, per interest) and would not mind
(partial), labelled from titles and abstracts before anything was measured.

Each reader's digest is planned through the real path (`delivery.plan`, which ranks with
`pick_papers` and records the deliveries); its "For you" section is scored:
- recall@10: core papers in the first 10 / min(10, |core|);
- precision: share of the section that is core or partial (a method that always sends ten
  papers pays for the ones nobody asked for);
- served: whether every interest of a multi-interest reader got at least one of its papers.
The same scores for three baselines on the same candidates, each sending its top 10:
trending only (what Hugging Face Daily Papers shows everyone), tf-idf cosine of the interests
against title + abstract (arxiv-sanity-lite), and the best cosine between the paper and any
one of the reader's topics with the same sentence-transformers model (zotero-arxiv-daily).

Then feedback: each reader likes three of their core papers and marks three others "less
like this", taken from the digest they got where it has them (as a reader would), and the
next day's digest (the first one's papers are "already sent") is compared with the next
day's digest without that feedback, on the core papers not sent yet.

    PYTHONPATH=. .venv/bin/python bench/relevance.py [--readers]

Prints figures; asserts nothing. Takes a few minutes on 2 cores (embedding 430 papers).
"""

import argparse
import json
import os
import statistics
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import RECORDED, clean_up, prepare, server_environment

LABELS = Path(__file__).with_name("relevance_labels.json")
DATABASE = "digest_bench_relevance"
FILES = ["arxiv", "huggingface"]  # the labelled pool: arXiv pages + testing search, HF day
DAY = date(2026, 6, 12)
K = 10
# Every labelled paper is a candidate of the day: the pool spans years (the "testing" search).
CANDIDATE_DAYS = "100000"


@dataclass
class Reader:
    name: str
    interests: str
    categories: list[str]
    liked: list[str]
    core: dict[str, set[str]]
    partial: set[str]

    @property
    def all_core(self) -> set[str]:
        return set().union(*self.core.values())

    @property
    def wanted(self) -> set[str]:
        return self.all_core | self.partial


def load_readers() -> list[Reader]:
    data = json.loads(LABELS.read_text())
    return [
        Reader(
            name=r["name"],
            interests=r["interests"],
            categories=r["categories"],
            liked=r["liked"],
            core={topic: set(ids) for topic, ids in r["core"].items()},
            partial=set(r["partial"]),
        )
        for r in data["readers"]
    ]


@dataclass
class Scores:
    recall: float
    precision: float | None  # None: nothing sent as personal
    served: bool | None  # None: one interest only
    sent: int


def score(reader: Reader, sent: list[str], *, core: set[str] | None = None) -> Scores:
    core = reader.all_core if core is None else core
    top = sent[:K]
    recall = len(core & set(top)) / min(K, len(core)) if core else float("nan")
    precision = len(reader.wanted & set(sent)) / len(sent) if sent else None
    served = None
    if len(reader.core) > 1:
        served = all(ids & set(sent) for ids in reader.core.values())
    return Scores(recall=recall, precision=precision, served=served, sent=len(sent))


# --- Setup ---------------------------------------------------------------------------------


def fill_database() -> None:
    from django.core.management import call_command

    from digest.services.embedding.papers import embed_missing_papers
    from digest.services.sources.fetch import replay
    from digest.services.trending import recompute_trending

    call_command("migrate", verbosity=0)
    reports = replay(paths=[RECORDED / name for name in FILES])
    summary = embed_missing_papers()
    scored = recompute_trending(now=datetime(2026, 6, 13, tzinfo=UTC))
    new = sum(report.counts.new for report in reports)
    print(
        f"replayed {new} papers, embedded {summary.embedded} "
        f"({summary.papers_per_second:.0f}/s on {summary.device}), {scored} trending scores"
    )


def make_subscribers(readers: list[Reader]) -> dict[str, int]:
    from digest.models import PaperFeedback, Subscriber

    ids = {}
    for reader in readers:
        subscriber = Subscriber.objects.create(
            email=f"{reader.name}@bench.example",
            status=Subscriber.Status.ACTIVE,
            interests=reader.interests,
            categories=reader.categories,
            digest_size=K,
        )
        for paper_id in reader.liked:
            PaperFeedback.objects.create(
                subscriber=subscriber, paper_id=paper_id, kind=PaperFeedback.Kind.LIKE
            )
        ids[reader.name] = subscriber.pk
    return ids


# --- Our digest ----------------------------------------------------------------------------


def planned_for_you(day: date, ids: dict[str, int]) -> dict[str, list[str]]:
    """Plan the day's digests through the real path and read back the personal sections."""
    from digest.services.delivery import plan

    plan(day=day, subscriber_ids=list(ids.values()))
    return {name: for_you(day, pk) for name, pk in ids.items()}


def for_you(day: date, subscriber_id: int) -> list[str]:
    from digest.models import DeliveryItem

    items = DeliveryItem.objects.filter(
        delivery__subscriber_id=subscriber_id,
        delivery__local_date=day,
        section=DeliveryItem.Section.FOR_YOU,
    ).order_by("position")
    return list(items.values_list("paper_id", flat=True))


def picked_for_you(day: date, ids: dict[str, int]) -> dict[str, list[str]]:
    """The personal sections `pick_papers` makes, without recording a delivery."""
    from digest.services.ranking.digests import FOR_YOU, pick_papers

    picks = pick_papers(subscriber_ids=list(ids.values()), day=day)
    return {
        name: [p.paper_id for p in picks[pk] if p.section == FOR_YOU] for name, pk in ids.items()
    }


# --- Baselines -----------------------------------------------------------------------------


def baselines(readers: list[Reader]) -> dict[str, dict[str, list[str]]]:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import linear_kernel

    from digest.services.embedding.papers import current_embedder
    from digest.services.ranking.categories import category_name
    from digest.services.ranking.digests import candidate_papers, topics_of

    candidates = candidate_papers(day=DAY)
    ids = candidates.ids
    columns = {pk: i for i, pk in enumerate(ids)}
    trending = [ids[i] for i in np.argsort(-candidates.trending, kind="stable")[:K]]
    tfidf = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    documents = tfidf.fit_transform(candidates.texts)
    embedder = current_embedder()
    results: dict[str, dict[str, list[str]]] = {"trending": {}, "tf-idf": {}, "best topic": {}}
    for reader in readers:
        topics = topics_of_reader(reader, topics_of, category_name)
        liked = [columns[pk] for pk in reader.liked if pk in columns]
        query_text = " ".join(topics + [candidates.texts[col] for col in liked])
        lexical = linear_kernel(tfidf.transform([query_text]), documents)[0]
        vectors = [*embedder.encode(topics)] if topics else []
        vectors += [candidates.vectors[col] for col in liked]
        semantic = (np.stack(vectors) @ candidates.vectors.T).max(axis=0)
        for scores in (lexical, semantic):
            scores[liked] = -np.inf  # a reader's own liked papers are not news to them
        results["trending"][reader.name] = [pk for pk in trending if pk not in reader.liked]
        results["tf-idf"][reader.name] = [ids[i] for i in np.argsort(-lexical, kind="stable")[:K]]
        results["best topic"][reader.name] = [
            ids[i] for i in np.argsort(-semantic, kind="stable")[:K]
        ]
    return results


def topics_of_reader(reader: Reader, topics_of, category_name) -> list[str]:
    from digest.models import Subscriber

    subscriber = Subscriber(interests=reader.interests)
    return topics_of(subscriber) + [category_name(term) for term in reader.categories]


# --- Feedback ------------------------------------------------------------------------------


def give_feedback(reader: Reader, subscriber_id: int, seen: list[str], pool: list[str]) -> set:
    """Three core papers liked and three others marked "less like this", from what the
    reader saw first (`seen`), then from `pool`. Returns the papers given feedback."""
    from digest.models import PaperFeedback
    from digest.services.ranking.digests import record_feedback

    order = list(dict.fromkeys(seen + pool))
    likes = [pk for pk in order if pk in reader.all_core and pk not in reader.liked][:3]
    dislikes = [pk for pk in order if pk not in reader.wanted and pk not in reader.liked][:3]
    for paper_id, kind in [(pk, "like") for pk in likes] + [(pk, "dislike") for pk in dislikes]:
        record_feedback(
            subscriber_id=subscriber_id, paper_id=paper_id, kind=PaperFeedback.Kind(kind)
        )
    return set(likes) | set(dislikes)


# --- Report --------------------------------------------------------------------------------


def mean(values: list[float | None]) -> float:
    present = [v for v in values if v is not None and v == v]
    return statistics.mean(present) if present else float("nan")


def row(name: str, scores: list[Scores]) -> str:
    served = [s.served for s in scores if s.served is not None]
    empty = sum(1 for s in scores if not s.sent)
    return (
        f"{name:<22} {mean([s.recall for s in scores]):>9.3f} "
        f"{mean([s.precision for s in scores]):>10.3f} "
        f"{sum(served):>3}/{len(served):<3} {mean([s.sent for s in scores]):>8.1f} {empty:>6}"
    )


def header() -> str:
    return (
        f"{'method':<22} {'recall@10':>9} {'precision':>10} {'served':>7} {'sent':>8} {'empty':>6}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", action="store_true", help="also print each reader")
    args = parser.parse_args()
    environment = server_environment(
        database=DATABASE, RANK_CANDIDATE_DAYS=CANDIDATE_DAYS, CELERY_TASK_ALWAYS_EAGER="true"
    )
    prepare(environment, database=DATABASE)
    try:
        run(args)
    finally:
        clean_up(None, database=DATABASE, redis=None)


def run(args: argparse.Namespace) -> None:
    from django.conf import settings
    from django.test import override_settings

    from digest.models import PaperFeedback

    readers = load_readers()
    fill_database()
    ids = make_subscribers(readers)
    print(
        f"{len(readers)} readers; threshold {settings.RANK_RELEVANCE_THRESHOLD}, lexical "
        f"{settings.RANK_LEXICAL_WEIGHT}, category boost {settings.RANK_CATEGORY_BOOST}, "
        f"dial {settings.RANK_TRENDING_WEIGHT}, MMR {settings.RANK_MMR_LAMBDA}"
    )
    ours = planned_for_you(DAY, ids)
    others = baselines(readers)
    table = {"ours (For you)": ours, **others}
    print()
    print(f"Day 1: {len(readers)} readers, each method's personal section")
    print(header())
    for name, sent in table.items():
        print(row(name, [score(reader, sent[reader.name]) for reader in readers]))
    if args.readers:
        print_readers(readers, table)

    # Day 2, with and without feedback on day 1's digest.
    next_day = DAY + timedelta(days=1)
    without = picked_for_you(next_day, ids)
    given = {
        reader.name: give_feedback(
            reader, ids[reader.name], ours[reader.name], others["best topic"][reader.name]
        )
        for reader in readers
    }
    with_feedback = picked_for_you(next_day, ids)
    print()
    print("Day 2 (day 1's papers already sent), core papers not sent yet, after feedback")
    print(header())
    for name, sent in (("without feedback", without), ("with feedback", with_feedback)):
        scores = []
        for reader in readers:
            remaining = reader.all_core - set(ours[reader.name]) - given[reader.name]
            if remaining:
                scores.append(score(reader, sent[reader.name], core=remaining))
        print(row(name, scores))
    if args.readers:
        print_readers(
            readers,
            {"without feedback": without, "with feedback": with_feedback},
            excluded={r.name: set(ours[r.name]) | given[r.name] for r in readers},
        )

    # Day 3: a second round of feedback on day 2's digest; readers with enough of it now
    # have their own classifier. The same ranking with its weight at zero is the baseline.
    second = planned_for_you(next_day, ids)
    for reader in readers:
        seen = second[reader.name]
        given[reader.name] |= give_feedback(
            reader, ids[reader.name], seen, others["best topic"][reader.name]
        )
    third_day = next_day + timedelta(days=1)
    with override_settings(RANK_TASTE_WEIGHT=0.0):
        facets_only = picked_for_you(third_day, ids)
    with_taste = picked_for_you(third_day, ids)
    fitted = sum(
        PaperFeedback.objects.filter(subscriber_id=pk).count() >= settings.RANK_TASTE_MIN_FEEDBACK
        for pk in ids.values()
    )
    print()
    print(
        f"Day 3 after a second round of feedback ({fitted} readers with at least "
        f"{settings.RANK_TASTE_MIN_FEEDBACK} marks get their own classifier)"
    )
    print(header())
    sent_before = {r.name: set(ours[r.name]) | set(second[r.name]) | given[r.name] for r in readers}
    for name, sent in (("facets only", facets_only), ("facets + taste", with_taste)):
        scores = [
            score(reader, sent[reader.name], core=reader.all_core - sent_before[reader.name])
            for reader in readers
            if reader.all_core - sent_before[reader.name]
        ]
        print(row(name, scores))


def print_readers(
    readers: list[Reader],
    table: dict[str, dict[str, list[str]]],
    *,
    excluded: dict[str, set[str]] | None = None,
) -> None:
    print()
    for reader in readers:
        cells = []
        core = reader.all_core - (excluded or {}).get(reader.name, set())
        if not core:
            continue
        for name, sent in table.items():
            s = score(reader, sent[reader.name], core=core)
            precision = "-" if s.precision is None else f"{s.precision:.2f}"
            cells.append(f"{name.split()[0]} r={s.recall:.2f} p={precision} n={s.sent}")
        print(f"  {reader.name:<28} |core|={len(core):<3} " + " | ".join(cells))


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digest.settings")
    main()
