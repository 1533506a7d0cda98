"""Paper vectors on disk, memory-mapped by every process: the OS page cache holds one copy
for all of them. Pure module (no Django): the database side is `index.py`.

One folder per database and model:

    manifest.json                what is published (JSON, replaced by an atomic rename)
    vectors-G.f32, ids-G.bin     float32 rows and their paper ids (32 bytes), appended;
                                 G is the generation, new at each rebuild
    lookup-G-N.ids.npy, .rows.npy  the N ids sorted, and their rows: id -> row by bisection
    graph-G-N.usearch            HNSW graph (USearch, int8) over the first N rows
    lock                         held by writers (flock)

Writers append rows past the published count, then publish: a reader maps only the rows a
manifest names, so it sees an append whole or not at all. Files are never truncated or
rewritten in place (a reader's mapping stays valid); old ones are unlinked, which leaves open
mappings intact. A paper embedded again (new text) gets a new row; its old row is superseded,
recognised by the lookup pointing elsewhere.
"""

import fcntl
import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from usearch.index import Index

FORMAT = 1
MANIFEST = "manifest.json"
ID_DTYPE = np.dtype("S32")  # Paper.arxiv_id has max_length 32 (ASCII)
# The graph: 16 links a node, int8 vectors (a quarter of float32; every hit is re-scored from
# the float32 rows), and search/build breadths chosen with bench/scale.py for recall@10 >= 0.98
# at 1M papers (a search breadth of 128 and 40 candidates gave 0.936 there).
CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 512
# Graph candidates fetched per wanted hit, then re-scored exactly.
OVERSAMPLE = 10
# Fewer rows than this are added to the graph by one thread (see build_graph).
THREADED_ADD_FROM = 10_000
# Rows past the graph are searched exactly; the graph takes them in once this many wait.
GRAPH_TAIL = 20_000
GRAPH_ADD_BATCH = 50_000


class IndexUnreadable(Exception):
    """A file of the index is missing, short or not what its manifest says."""


@dataclass(frozen=True)
class Manifest:
    model_name: str
    dim: int = 0
    generation: int = 1
    count: int = 0
    # The highest database row (PaperEmbedding id) the index holds: syncing appends the rows
    # after it.
    cursor: int = 0
    # The database's (epoch, version) of these vectors when the index was last synced.
    source: tuple[str, int] = ("", 0)
    lookup: str = ""
    graph: str = ""
    graph_count: int = 0

    @property
    def vectors_file(self) -> str:
        return f"vectors-{self.generation}.f32"

    @property
    def ids_file(self) -> str:
        return f"ids-{self.generation}.bin"


def read_manifest(folder: Path) -> Manifest | None:
    """The published manifest; None when there is none yet."""
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise IndexUnreadable(f"{path}: {exc}") from exc
    if not isinstance(data, dict) or data.pop("format", None) != FORMAT:
        raise IndexUnreadable(f"{path}: not a format {FORMAT} manifest")
    try:
        return Manifest(**{**data, "source": tuple(data["source"])})
    except (KeyError, TypeError) as exc:
        raise IndexUnreadable(f"{path}: {exc}") from exc


def manifest_stamp(folder: Path) -> tuple[int, int] | None:
    """Changes whenever a manifest is published (a new file each time): a cheap stat."""
    try:
        stat = (folder / MANIFEST).stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def to_bytes(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def from_bytes(blobs: list[bytes], dim: int) -> np.ndarray:
    """Many stored vectors as one contiguous (n, dim) float32 matrix."""
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(bytes(blob) for blob in blobs), dtype=np.float32).reshape(
        len(blobs), dim
    )


# --- Readers -------------------------------------------------------------------------------


class PaperIndex(ABC):
    """What search and ranking ask of paper vectors, whatever holds them: these files, or a
    pgvector table where PostgreSQL has the extension (a third implementation)."""

    model_name: str
    dim: int

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def vectors(self, paper_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(found, dim) float32 rows of the ids that have a vector, and which ids did."""

    @abstractmethod
    def nearest(
        self,
        query: np.ndarray,
        *,
        k: int,
        exclude: Collection[str] = frozenset(),
        allowed: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        """The k papers most similar to a unit query vector, best first, as (id, cosine);
        only among `allowed` when given, never those in `exclude`."""

    def vector(self, paper_id: str) -> np.ndarray | None:
        rows, found = self.vectors([paper_id])
        return rows[0] if found[0] else None


def _mapped(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    if not shape[0]:
        return np.zeros(shape, dtype=dtype)
    needed = int(np.prod(shape)) * dtype.itemsize
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise IndexUnreadable(f"{path}: {exc}") from exc
    if size < needed:
        raise IndexUnreadable(f"{path}: {size} bytes where {needed} are published")
    return np.memmap(path, dtype=dtype, mode="r", shape=shape)


def _loaded(path: Path, dtype: np.dtype, count: int) -> np.ndarray:
    if not count:
        return np.zeros(0, dtype=dtype)
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise IndexUnreadable(f"{path}: {exc}") from exc
    if array.shape != (count,) or array.dtype != dtype:
        raise IndexUnreadable(f"{path}: {array.shape} {array.dtype}, expected ({count},) {dtype}")
    return array


class ExactIndex(PaperIndex):
    """Exact cosine over the memory-mapped float32 rows: one matrix-vector product."""

    def __init__(self, folder: Path, manifest: Manifest):
        self.manifest = manifest
        self.model_name, self.dim, self.count = manifest.model_name, manifest.dim, manifest.count
        self.matrix = _mapped(
            folder / manifest.vectors_file, np.dtype(np.float32), (self.count, self.dim)
        )
        self._ids = _mapped(folder / manifest.ids_file, ID_DTYPE, (self.count,))
        self._sorted = _loaded(folder / f"{manifest.lookup}.ids.npy", ID_DTYPE, self.count)
        self._rows = _loaded(folder / f"{manifest.lookup}.rows.npy", np.dtype(np.int64), self.count)

    def __len__(self) -> int:
        return self.count

    def rows_of(self, paper_ids: Sequence[str]) -> np.ndarray:
        """Each id's current row, -1 for ids without one."""
        if not self.count or not len(paper_ids):
            return np.full(len(paper_ids), -1, dtype=np.int64)
        keys = np.array([pk.encode() for pk in paper_ids], dtype=ID_DTYPE)
        # The last of equal ids is the newest row (the lookup sorts stably by row).
        at = np.searchsorted(self._sorted, keys, side="right") - 1
        safe = np.maximum(at, 0)
        hit = (at >= 0) & (self._sorted[safe] == keys)
        return np.where(hit, self._rows[safe], -1)

    def vectors(self, paper_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        rows = self.rows_of(paper_ids)
        found = rows >= 0
        return np.asarray(self.matrix[rows[found]], dtype=np.float32), found

    def nearest(
        self,
        query: np.ndarray,
        *,
        k: int,
        exclude: Collection[str] = frozenset(),
        allowed: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        query = query.astype(np.float32)
        if allowed is None:
            return self._unfiltered(query, k=k, exclude=exclude)
        rows = self.rows_of(list(allowed))
        rows = np.sort(rows[rows >= 0])
        # A few rows are gathered; many are read in one pass, in order.
        few = len(rows) * 8 < self.count
        scores = self.matrix[rows] @ query if few else (self.matrix @ query)[rows]
        return self._best(rows, scores, k=k, exclude=exclude)

    def _unfiltered(
        self, query: np.ndarray, *, k: int, exclude: Collection[str]
    ) -> list[tuple[str, float]]:
        rows = np.arange(self.count)
        return self._best(rows, self.matrix @ query, k=k, exclude=exclude)

    def _best(
        self, rows: np.ndarray, scores: np.ndarray, *, k: int, exclude: Collection[str]
    ) -> list[tuple[str, float]]:
        """The k best current rows among `rows`, skipping `exclude`: the top k + |exclude|
        first, widened while superseded rows leave fewer than k."""
        wanted = k + len(exclude)
        while k > 0 and len(rows):
            take = min(len(rows), wanted)
            top = np.argpartition(-scores, take - 1)[:take]
            top = top[np.argsort(-scores[top], kind="stable")]
            hits = self._hits(rows[top], scores[top], exclude)
            if len(hits) >= k or take == len(rows):
                return hits[:k]
            wanted *= 2
        return []

    def _hits(self, rows: np.ndarray, scores: np.ndarray, exclude: Collection[str]) -> list:
        ids = [pk.decode() for pk in self._ids[rows]]
        current = self.rows_of(ids) == rows
        return [
            (pk, float(score))
            for pk, score, ok in zip(ids, scores, current, strict=True)
            if ok and pk not in exclude
        ]


class ApproximateIndex(ExactIndex):
    """HNSW (USearch, memory-mapped) over the first rows, the rows appended since searched
    exactly, every candidate re-scored from the float32 rows."""

    def __init__(self, folder: Path, manifest: Manifest):
        super().__init__(folder, manifest)
        path = folder / f"{manifest.graph}.usearch"
        try:
            graph = Index.restore(str(path), view=True)
        except (OSError, RuntimeError, ValueError) as exc:
            raise IndexUnreadable(f"{path}: {exc}") from exc
        if graph is None or len(graph) != manifest.graph_count or graph.ndim != self.dim:
            raise IndexUnreadable(f"{path}: not a graph of {manifest.graph_count} rows")
        graph.expansion_search = EXPANSION_SEARCH
        self.graph = graph

    def _unfiltered(
        self, query: np.ndarray, *, k: int, exclude: Collection[str]
    ) -> list[tuple[str, float]]:
        if k <= 0:
            return []
        found = self.graph.search(query, OVERSAMPLE * k + len(exclude)).keys.astype(np.int64)
        rows = np.concatenate([found, np.arange(self.manifest.graph_count, self.count)])
        return self._best(rows, self.matrix[rows] @ query, k=k, exclude=exclude)


def open_index(folder: Path, manifest: Manifest, *, approximate: bool) -> PaperIndex:
    """The index a manifest publishes; with `approximate`, its graph if it has one."""
    if approximate and manifest.graph:
        return ApproximateIndex(folder, manifest)
    return ExactIndex(folder, manifest)


# --- Writers -------------------------------------------------------------------------------


@contextmanager
def writing(folder: Path) -> Iterator[None]:
    """The folder's writer lock: two embed workers (or a worker and a process rebuilding)
    never append at once."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_GENERATION = re.compile(r"vectors-(\d+)\.f32")
_GRAPH = re.compile(r"graph-(\d+)-(\d+)\.usearch")


def fresh(folder: Path, *, model_name: str) -> Manifest:
    """An empty index of a new generation, the files of the others removed (readers that
    still map them keep their mapping). Under the writer lock."""
    generations = [int(m[1]) for p in folder.iterdir() if (m := _GENERATION.fullmatch(p.name))]
    for path in folder.iterdir():
        if path.name not in ("lock", MANIFEST):
            path.unlink()
    return Manifest(model_name=model_name, generation=max(generations, default=0) + 1)


def _write_at(path: Path, offset: int, data: bytes) -> None:
    # Past the published count: overwrites what a crashed append may have left there.
    with open(path, "r+b" if path.exists() else "w+b") as handle:
        handle.seek(offset)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def append(
    folder: Path, manifest: Manifest, *, ids: Sequence[str], vectors: np.ndarray, cursor: int
) -> Manifest:
    """Rows written past the published ones; visible once the result is published."""
    dim = manifest.dim or vectors.shape[1]
    if vectors.shape != (len(ids), dim):
        raise ValueError(f"{vectors.shape} vectors for {len(ids)} ids of dimension {dim}")
    if any(len(pk.encode()) > ID_DTYPE.itemsize for pk in ids):
        raise ValueError(f"paper ids are at most {ID_DTYPE.itemsize} bytes")
    rows = np.ascontiguousarray(vectors, dtype=np.float32)
    _write_at(folder / manifest.vectors_file, manifest.count * dim * 4, rows.tobytes())
    keys = np.array([pk.encode() for pk in ids], dtype=ID_DTYPE)
    _write_at(folder / manifest.ids_file, manifest.count * ID_DTYPE.itemsize, keys.tobytes())
    return replace(manifest, dim=dim, count=manifest.count + len(ids), cursor=cursor)


def publish(folder: Path, manifest: Manifest) -> Manifest:
    """Make `manifest` the one readers open: its lookup written if its rows changed, then the
    manifest renamed into place, then files no manifest names any more removed."""
    lookup = f"lookup-{manifest.generation}-{manifest.count}"
    if manifest.lookup != lookup:
        ids = _mapped(folder / manifest.ids_file, ID_DTYPE, (manifest.count,))
        order = np.argsort(ids, kind="stable")
        np.save(folder / f"{lookup}.ids.npy", np.asarray(ids[order]))
        np.save(folder / f"{lookup}.rows.npy", order.astype(np.int64))
        manifest = replace(manifest, lookup=lookup)
    temporary = folder / f".{MANIFEST}.{os.getpid()}"
    temporary.write_text(json.dumps({"format": FORMAT, **asdict(manifest)}))
    os.replace(temporary, folder / MANIFEST)
    kept = {f"{manifest.lookup}.ids.npy", f"{manifest.lookup}.rows.npy"}
    for path in folder.iterdir():
        if (path.name.startswith("lookup-") and path.name not in kept) or _older_graph(
            path, manifest
        ):
            path.unlink(missing_ok=True)
    return manifest


def _older_graph(path: Path, manifest: Manifest) -> bool:
    """A graph superseded by the published one (one being built holds more rows: kept)."""
    found = _GRAPH.fullmatch(path.name)
    return (
        bool(found)
        and path.name != f"{manifest.graph}.usearch"
        and (int(found[1]) != manifest.generation or int(found[2]) <= manifest.graph_count)
    )


def graph_due(manifest: Manifest) -> bool:
    return not manifest.graph or manifest.count - manifest.graph_count >= GRAPH_TAIL


def build_graph(folder: Path, manifest: Manifest, *, threads: int = 0) -> Manifest:
    """The graph extended (or made) to hold every published row, saved under a new name;
    `manifest` with it, to publish. Needs no lock: published rows never change."""
    if manifest.graph:
        graph = Index.restore(str(folder / f"{manifest.graph}.usearch"))
    else:
        graph = Index(
            ndim=manifest.dim,
            metric="cos",
            dtype="i8",
            connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD,
            expansion_search=EXPANSION_SEARCH,
        )
    matrix = _mapped(
        folder / manifest.vectors_file, np.dtype(np.float32), (manifest.count, manifest.dim)
    )
    for start in range(manifest.graph_count, manifest.count, GRAPH_ADD_BATCH):
        end = min(start + GRAPH_ADD_BATCH, manifest.count)
        # Rows added by several threads at once into a small graph link poorly (recall@10
        # 0.985 on the 130 recorded papers); below a batch of rows threads buy no time anyway.
        graph.add(
            np.arange(start, end, dtype=np.uint64),
            np.asarray(matrix[start:end]),
            threads=threads if end - start >= THREADED_ADD_FROM else 1,
        )
    name = f"graph-{manifest.generation}-{manifest.count}"
    temporary = folder / f".{name}.{os.getpid()}"
    graph.save(str(temporary))
    os.replace(temporary, folder / f"{name}.usearch")
    return replace(manifest, graph=name, graph_count=manifest.count)
