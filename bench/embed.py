"""Embedding throughput: our `Embedder.encode` against plain `SentenceTransformer.encode` on the
same texts, device and batch size, in the same run. Prints figures; asserts nothing.

    PYTHONPATH=. .venv/bin/python bench/embed.py --device cpu --n 1000

Texts are title + abstract of the recorded arXiv pages, repeated up to --n.
"""

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import defusedxml.ElementTree as ElementTree
import numpy as np
import torch

from digest.services.embedding.embedder import (
    DEFAULT_MODEL,
    Embedder,
    paper_text,
    resolve_device,
    resolve_model_path,
)

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ATOM = "{http://www.w3.org/2005/Atom}"
LENGTH_BUCKETS = (64, 128, 192, 256, 384, 512)
AGREEMENT_SAMPLE = 64


def recorded_texts(data_dir: Path) -> list[str]:
    texts = []
    for page in sorted((data_dir / "arxiv").glob("cs_query_start*.xml")):
        for entry in ElementTree.parse(page).getroot().iter(f"{ATOM}entry"):
            title, abstract = entry.findtext(f"{ATOM}title"), entry.findtext(f"{ATOM}summary")
            texts.append(paper_text(title=title or "", abstract=abstract or ""))
    if not texts:
        raise SystemExit(f"no arXiv entries under {data_dir / 'arxiv'}")
    return texts


def repeated(texts: list[str], n: int) -> list[str]:
    return (texts * (n // len(texts) + 1))[:n]


@dataclass
class Runs:
    rates: list[float] = field(default_factory=list)  # papers per wall-clock second
    cpu_seconds: list[float] = field(default_factory=list)  # this process, all its threads

    def summary(self) -> str:
        runs = ", ".join(f"{rate:,.1f}" for rate in self.rates)
        return (
            f"best {max(self.rates):,.1f} papers/s (median {statistics.median(self.rates):,.1f};"
            f" runs {runs}); process CPU {min(self.cpu_seconds):,.1f}s per run"
        )


def papers_per_second(
    encoders: dict[str, Callable[[list[str]], np.ndarray]],
    texts: list[str],
    *,
    repeats: int,
    warm_up: int,
) -> dict[str, Runs]:
    """`repeats` timed runs per encoder, after an untimed warm-up on a slice (loads kernels,
    fills allocator pools, starts the tokenizer's thread pool). Runs alternate between
    encoders so that drifting machine speed (shared cores, clocks) hits both alike; CPU time
    shows the work itself where other load on the machine blurs the wall clock."""
    for encode in encoders.values():
        encode(texts[:warm_up])
    runs = {name: Runs() for name in encoders}
    for _ in range(repeats):
        for name, encode in encoders.items():
            wall, cpu = time.perf_counter(), time.process_time()
            encode(texts)  # returns host numpy: the device has finished
            runs[name].rates.append(len(texts) / (time.perf_counter() - wall))
            runs[name].cpu_seconds.append(time.process_time() - cpu)
    return runs


def print_token_lengths(lengths: np.ndarray, max_seq_length: int) -> None:
    edges = [0, *LENGTH_BUCKETS, np.inf]
    counts, _ = np.histogram(lengths, bins=edges)
    print(f"token lengths of {len(lengths)} distinct texts (special tokens included):")
    for low, high, count in zip(edges[:-1], edges[1:], counts, strict=True):
        label = f"{low:>4}-{high:<4}" if np.isfinite(high) else f"{low:>4}+    "
        print(f"  {label} {count:6d}  {'#' * round(60 * count / len(lengths))}")
    truncated = float(np.mean(lengths > max_seq_length))
    print(
        f"  mean {lengths.mean():.0f}, median {np.median(lengths):.0f}, max {lengths.max()}; "
        f"truncated at max_seq_length={max_seq_length}: {truncated:.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model name or path")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n", type=int, default=5000, help="texts per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args()

    from sentence_transformers import SentenceTransformer

    device = resolve_device(args.device)
    distinct = recorded_texts(args.data_dir)
    texts = repeated(distinct, args.n)
    ours = Embedder(model_name=args.model, device=device, batch_size=args.batch_size)
    plain = SentenceTransformer(resolve_model_path(args.model), device=device)
    # Same precision as ours, so the comparison measures the pipeline alone.
    plain = plain.half() if device.startswith("cuda") else plain.float()

    def plain_encode(batch: list[str]) -> np.ndarray:
        return plain.encode(batch, batch_size=args.batch_size, normalize_embeddings=True)

    print(f"device {device} ({_device_name(device)}), torch threads {torch.get_num_threads()}")
    print(f"model {args.model}, dim {ours.dim}, batch size {args.batch_size}, {len(texts)} texts")
    print_token_lengths(ours.token_lengths(distinct), ours.max_seq_length)

    rates = papers_per_second(
        {"plain": plain_encode, "ours": ours.encode},
        texts,
        repeats=args.repeats,
        warm_up=2 * args.batch_size,
    )
    sample = distinct[:AGREEMENT_SAMPLE]
    agreement = (ours.encode(sample) * plain_encode(sample)).sum(axis=1)
    print(f"plain SentenceTransformer.encode: {rates['plain'].summary()}")
    print(f"our Embedder.encode:              {rates['ours'].summary()}")
    ratio = max(rates["ours"].rates) / max(rates["plain"].rates)
    print(f"ratio ours / plain (best runs): {ratio:.2f}x")
    print(
        f"agreement on {len(sample)} texts: max 1 - cosine(ours, plain) = "
        f"{float(np.max(1 - agreement)):.2e}"
    )


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return "host CPU"


if __name__ == "__main__":
    main()
