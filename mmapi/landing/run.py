"""A landing run: what is new under the source is read, checked, deduplicated and written.

    raw files ──find──▶ pending parts (manifest offsets) ──stage──▶ batches ──DuckDB──▶ events/
                                                                              └──▶ manifest

Incremental: the manifest remembers, per file, the offset landed up to, so a segment still
being written is landed up to its last complete line and the rest next time, and re-running
on the same input adds nothing. A lock keeps two runs from writing one output folder.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from .. import storage
from .config import LandingConfig
from .engine import LandingEngine
from .manifest import LandingLock, Manifest
from .remote import RemoteEvents
from .sources import RejectedLine, SourceFile, StagedFile, Stager, find_sources

__all__ = ["LandingSummary", "land", "pending_sources"]

logger = logging.getLogger(__name__)

_LANDING_DIR = "_landing"


@dataclass(slots=True)
class LandingSummary:
    """What a landing run did.

    Attributes:
        run_id: Names the run's output files (`part-<run_id>-<batch>[-<half>].parquet`).
        files_found: Files under the source.
        files_read: Files with something new that were read.
        bytes_read: Raw bytes read (decompressed for gzip).
        batches: Batches landed.
        counts: Events read per kind, rows landed per table, lines quarantined, ...
        seconds: Wall time of the run.
    """

    run_id: str
    files_found: int = 0
    files_read: int = 0
    bytes_read: int = 0
    batches: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain data for logs, artifacts and JSON."""
        return {
            "run_id": self.run_id,
            "files_found": self.files_found,
            "files_read": self.files_read,
            "bytes_read": self.bytes_read,
            "batches": self.batches,
            "statuses": self.counts["statuses"],
            "clicks": self.counts["clicks"],
            "preferences": self.counts["preferences"],
            "account_updates": self.counts["account_updates"],
            "quarantined": self.counts["quarantined"],
            "status_events_read": self.counts["status_events"],
            "ignored_changes": self.counts["ignored_changes"],
            "careful_files": self.counts["careful_files"],
            "seconds": round(self.seconds, 3),
        }


def pending_sources(sources: list[SourceFile], manifest: Manifest) -> list[tuple[SourceFile, int]]:
    """The files with something not landed yet, and the offset to read them from.

    Args:
        sources: The files found.
        manifest: What was landed before.

    Returns:
        `(file, start offset)` pairs, in the order of `sources`.
    """
    pending = []
    for source in sources:
        entry = manifest.get(source.uri)
        if entry is None:
            pending.append((source, 0))
            continue
        if source.document or source.compressed:
            if entry.size == source.size and entry.mtime == source.mtime:
                continue
            start = 0 if source.document or source.size < entry.size else entry.offset
            pending.append((source, start))
            continue
        if source.size == entry.offset:
            continue
        if source.size < entry.offset:
            logger.warning("%s: shorter than landed before; landing it again", source.uri)
            pending.append((source, 0))
        else:
            pending.append((source, entry.offset))
    return pending


def _batches(
    pending: list[tuple[SourceFile, int]], limit: int
) -> list[list[tuple[SourceFile, int]]]:
    batches: list[list[tuple[SourceFile, int]]] = []
    current: list[tuple[SourceFile, int]] = []
    size = 0
    for source, start in pending:
        part = max(source.size - start, 0)
        if current and size + part > limit:
            batches.append(current)
            current, size = [], 0
        current.append((source, start))
        size += part
    if current:
        batches.append(current)
    return batches


@contextmanager
def _arrow_memory_pool() -> Iterator[None]:
    """Arrow allocates from jemalloc (else the system's malloc) while a landing runs.

    pyarrow's default pool, mimalloc, asks Linux for transparent huge pages and has each one
    zeroed whole on first touch: measured at a third of a second of kernel time per million
    events, an eighth of the landing's CPU. Buffers keep their own pool, so restoring the
    previous default afterwards is safe.
    """
    previous = pa.default_memory_pool()
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def land(config: LandingConfig, *, progress: Callable[[str], None] | None = None) -> LandingSummary:
    """Land what is new under `config.source` into `config.out/events/`.

    Args:
        config: Source, output folder and limits.
        progress: Called with a line of text after each step (default: this module's logger).

    Returns:
        What the run did.

    Raises:
        FileNotFoundError: the source does not exist.
        BlockingIOError: another landing run is writing to the same output folder.

    Example:
        >>> summary = land(LandingConfig(source="raw/", out=Path("lake")))  # doctest: +SKIP
        >>> summary.as_dict()["statuses"]  # doctest: +SKIP
        1000000
    """
    say = progress or logger.info
    started = time.perf_counter()
    now = datetime.now(UTC)
    run_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    summary = LandingSummary(run_id=run_id)
    # An output on an object store is landed in its local working folder, then uploaded.
    events_dir = storage.working_folder(config.out) / "events"
    landing_dir = events_dir / _LANDING_DIR
    remote = (
        RemoteEvents(str(storage.join(config.out, "events")), events_dir)
        if storage.is_url(config.out)
        else None
    )
    with LandingLock(landing_dir / "lock"), _arrow_memory_pool():
        if remote is not None:
            remote.pull()
        manifest = Manifest.load(landing_dir / "manifest.json")
        fs, sources = find_sources(config.source, config.patterns)
        summary.files_found = len(sources)
        pending = pending_sources(sources, manifest)
        say(f"{len(sources)} files under {config.source}, {len(pending)} with something new")
        staging_root = landing_dir / "staging"
        shutil.rmtree(staging_root, ignore_errors=True)  # left by a killed run: the lock is ours
        staging = staging_root / run_id
        stager = Stager(
            fs,
            staging,
            max_line_bytes=config.max_line_bytes,
            settle_seconds=config.settle_seconds,
        )
        engine = LandingEngine(
            config,
            events_dir=events_dir,
            staging_dir=staging,
            run_id=run_id,
            started_at=now,
            progress=say,
        )
        try:
            for number, batch in enumerate(_batches(pending, config.batch_bytes), start=1):
                staged: list[StagedFile] = []
                rejected: list[RejectedLine] = []
                done: list[tuple[SourceFile, int]] = []
                for source, start in batch:
                    item, refused = stager.stage(source, start, engine.new_file_id())
                    rejected += refused
                    if item is not None:
                        staged.append(item)
                        summary.bytes_read += item.end_offset - item.base_offset
                        done.append((source, item.end_offset))
                    elif refused:
                        end = source.size if source.document else start
                        done.append((source, end))
                counts = engine.land_batch(staged, rejected, number)
                if remote is not None:  # the rows first, then the manifest that records them
                    remote.push_files()
                for source, end in done:
                    manifest.record(
                        source.uri,
                        offset=end,
                        size=source.size,
                        mtime=source.mtime,
                        kind=source.kind,
                    )
                manifest.save()
                if remote is not None:
                    remote.push_manifest()
                for item in staged:
                    if item.temporary:
                        item.path.unlink(missing_ok=True)
                summary.batches += 1
                summary.files_read += len(staged)
                summary.counts.update(counts)
                say(
                    f"batch {number}: {len(staged)} files, {counts['statuses']} statuses, "
                    f"{counts['clicks']} clicks, {counts['preferences']} preferences, "
                    f"{counts['account_updates']} account updates, "
                    f"{counts['quarantined']} quarantined"
                )
        finally:
            engine.close()
            shutil.rmtree(staging, ignore_errors=True)
    summary.seconds = time.perf_counter() - started
    return summary
