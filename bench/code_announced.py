"""Precision and recall of the "code announced" detector on the recorded abstracts.

`bench/code_announced_labels.json` holds hand labels of every record of the recordings it
names (the three arXiv export pages, the arXiv "testing" search and the Hugging Face day:
430 papers), written by reading abstracts and comments before the detector was written.
Each record's abstract and arXiv comment go through `digest.code_announced` as ingestion
sends them; the same records through the two phrases the issue names ("code will be
released", "coming soon") as a baseline, measured in the same run.

    PYTHONPATH=. .venv/bin/python bench/code_announced.py [--show]

Prints figures (and with --show, every disagreement); asserts nothing. Takes a second.
"""

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from digest.code_announced import code_announcement
from digest.services.sources.recorded import parse_recorded

HERE = Path(__file__).resolve().parent
RECORDED = HERE.parents[0].parent / "shared" / "data"
LABELS = HERE / "code_announced_labels.json"
BASELINE = re.compile(r"code will be released|coming soon", re.IGNORECASE)


def recorded_texts(recordings: list[str]) -> dict[str, str]:
    """arXiv id -> abstract and comment, as stored by ingestion, for every recorded paper."""
    texts = {}
    for name in recordings:
        for record in parse_recorded((RECORDED / name).read_bytes()).records:
            paper = getattr(record, "paper", record)  # a Hugging Face record wraps its paper
            texts[paper.arxiv_id] = f"{paper.abstract}\n{getattr(paper, 'comment', '')}"
    return texts


def scores(
    detect: Callable[[str], object], texts: dict[str, str], truth: set[str]
) -> tuple[float, float, set[str], set[str]]:
    found = {pk for pk, text in texts.items() if detect(text)}
    hits = found & truth
    precision = len(hits) / len(found) if found else 1.0
    recall = len(hits) / len(truth) if truth else 1.0
    return precision, recall, found - truth, truth - found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print each disagreement")
    args = parser.parse_args()
    labels = json.loads(LABELS.read_text())
    texts = recorded_texts(labels["recordings"])
    truth = set(labels["announced"])
    missing = truth - texts.keys()
    if missing:
        raise SystemExit(f"labelled papers missing from the recordings: {sorted(missing)}")
    print(f"{len(texts)} recorded papers, {len(truth)} labelled as announcing code")
    print(f"{'method':<28} {'precision':>9} {'recall':>7} {'F1':>6} {'FP':>3} {'FN':>3}")
    results = {}
    for name, detect in (
        ("digest.code_announced", code_announcement),
        ("baseline: two phrases", BASELINE.search),
    ):
        precision, recall, false_pos, false_neg = scores(detect, texts, truth)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        results[name] = f1
        print(
            f"{name:<28} {precision:>9.3f} {recall:>7.3f} {f1:>6.3f} "
            f"{len(false_pos):>3} {len(false_neg):>3}"
        )
        if args.show:
            for pk in sorted(false_pos):
                print(f"  false positive {pk}: {' '.join(texts[pk].split())[:160]}")
            for pk in sorted(false_neg):
                print(f"  missed {pk}: {labels['announced'][pk]}")
    ours, baseline = results.values()
    print(f"F1 ratio ours / baseline: {ours / baseline:.2f}" if baseline else "baseline F1 is 0")


if __name__ == "__main__":
    main()
