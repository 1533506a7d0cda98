"""The paper vector index every process shares: files under DIGEST_INDEX_DIR that each
process memory-maps (`vector_store.py`), kept up to date from the database.

The database stays the source of truth. Storing vectors bumps the model's EmbeddingVersion
row in the same transaction; a process reads that row at most once every
DIGEST_INDEX_CHECK_MS and, when it moved, maps the rows appended since (usually by the embed
worker, which syncs the files right after it stores; else the first process to notice syncs
them itself). An index that is missing, unreadable or built from another database is rebuilt
from the database, with a log line saying why. From DIGEST_INDEX_APPROXIMATE_FROM papers the
embed worker also builds an HNSW graph and search becomes approximate (bench/scale.py).
"""

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.models import F

from digest.models import EmbeddingVersion, PaperEmbedding
from digest.services.batching import batched
from digest.services.embedding.vector_store import (
    IndexUnreadable,
    Manifest,
    PaperIndex,
    append,
    build_graph,
    fresh,
    from_bytes,
    graph_due,
    manifest_stamp,
    open_index,
    publish,
    read_manifest,
    writing,
)

log = logging.getLogger(__name__)
# Vectors read from the database per append while syncing.
SYNC_CHUNK = 5000


def index_folder(model_name: str) -> Path:
    """One folder per database and model: a test database or a second site on the same
    machine never shares files with this one."""
    key = f"{connection.settings_dict['NAME']}\n{model_name}"
    slug = re.sub(r"[^A-Za-z0-9]+", "-", Path(model_name).name).strip("-")[:40]
    return settings.DIGEST_INDEX_DIR / f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def bump_version(*, model_name: str) -> None:
    """Within the transaction that stores vectors, first: the row lock it takes queues
    concurrent embed runs, so vector ids grow in commit order and a sync that appends the
    ids above its cursor misses none."""
    EmbeddingVersion.objects.get_or_create(model_name=model_name)
    EmbeddingVersion.objects.filter(model_name=model_name).update(version=F("version") + 1)


def _source(model_name: str) -> tuple[str, int]:
    row = (
        EmbeddingVersion.objects.filter(model_name=model_name)
        .values_list("epoch", "version")
        .first()
    )
    return (str(row[0]), row[1]) if row else ("", 0)


def _usable(folder: Path, model_name: str, source: tuple[str, int]) -> Manifest:
    """The published manifest if the rows it names can be read and belong to this database;
    else a fresh, empty index, with the reason logged. Under the writer lock."""
    try:
        manifest = read_manifest(folder)
        if manifest is None:
            log.info("vector index %s missing: building it from the database", folder)
        elif manifest.model_name != model_name or manifest.source[0] != source[0]:
            log.warning("vector index %s is of another database: rebuilding it", folder)
        elif manifest.source[1] > source[1]:
            log.warning("vector index %s is ahead of the database: rebuilding it", folder)
        else:
            open_index(folder, manifest, approximate=True)  # every file checked
            return manifest
    except IndexUnreadable as exc:
        log.warning("vector index unreadable (%s): rebuilding it from the database", exc)
    return fresh(folder, model_name=model_name)


def sync_index(*, model_name: str) -> Manifest:
    """Bring the files up to the database: append the vectors stored since the last sync, or
    rebuild them when they are missing, unreadable or of another database."""
    folder = index_folder(model_name)
    with writing(folder):
        # Read before the rows: a bump meanwhile makes readers sync again, missing nothing.
        source = _source(model_name)
        manifest = _usable(folder, model_name, source)
        published = manifest
        rows = (
            PaperEmbedding.objects.filter(model_name=model_name, id__gt=manifest.cursor)
            .order_by("id")
            .values_list("id", "paper_id", "vector", "dim")
        )
        for chunk in batched(rows.iterator(chunk_size=SYNC_CHUNK), SYNC_CHUNK):
            manifest = append(
                folder,
                manifest,
                ids=[paper_id for _, paper_id, _, _ in chunk],
                vectors=from_bytes([blob for _, _, blob, _ in chunk], chunk[0][3]),
                cursor=chunk[-1][0],
            )
        manifest = replace(manifest, source=source)
        return manifest if manifest == published else publish(folder, manifest)


def refresh_index(*, model_name: str) -> Manifest:
    """What the embed worker runs after storing vectors: sync, then, on a corpus large enough
    for approximate search, extend the graph once enough rows wait outside it. The graph is
    built outside the lock (published rows never change) and published only if no rebuild
    came meanwhile."""
    manifest = sync_index(model_name=model_name)
    if manifest.count < settings.DIGEST_INDEX_APPROXIMATE_FROM or not graph_due(manifest):
        return manifest
    folder = index_folder(model_name)
    started = time.perf_counter()
    built = build_graph(folder, manifest)
    with writing(folder):
        current = read_manifest(folder)
        if current is None or current.generation != built.generation:
            return manifest
        graphed = replace(current, graph=built.graph, graph_count=built.graph_count)
        manifest = publish(folder, graphed)
    log.info(
        "vector index %s: graph of %d papers built in %.1fs",
        folder,
        manifest.graph_count,
        time.perf_counter() - started,
    )
    return manifest


@dataclass
class _Opened:
    folder: Path
    index: PaperIndex
    source: tuple[str, int]
    stamp: tuple[int, int] | None
    checked: float


_lock = threading.Lock()
_opened: _Opened | None = None


def paper_index() -> PaperIndex:
    """The current model's index, memory-mapped. At most once every DIGEST_INDEX_CHECK_MS
    one indexed row is read and the manifest's file stat()ed to see whether it changed."""
    global _opened
    model_name = settings.DIGEST_EMBEDDING_MODEL
    folder = index_folder(model_name)
    with _lock:
        now, last = time.monotonic(), _opened
        if last and last.folder == folder:
            if now - last.checked < settings.DIGEST_INDEX_CHECK_MS / 1000:
                return last.index
            source, stamp = _source(model_name), manifest_stamp(folder)
            if (source, stamp) == (last.source, last.stamp):
                last.checked = now
                return last.index
        _opened = _open(folder, model_name, now)
        return _opened.index


def _open(folder: Path, model_name: str, now: float) -> _Opened:
    approximate = settings.DIGEST_INDEX_APPROXIMATE_FROM
    source = _source(model_name)
    try:
        manifest = read_manifest(folder)
        if manifest and manifest.source == source and manifest.model_name == model_name:
            index = open_index(folder, manifest, approximate=manifest.count >= approximate)
            return _Opened(folder, index, source, manifest_stamp(folder), now)
    except IndexUnreadable:
        pass  # the sync below decides, under the lock, and says why it rebuilds
    manifest = sync_index(model_name=model_name)
    index = open_index(folder, manifest, approximate=manifest.count >= approximate)
    return _Opened(folder, index, manifest.source, manifest_stamp(folder), now)
