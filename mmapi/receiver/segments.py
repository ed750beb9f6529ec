"""Durable, rotating NDJSON segments with group commit.

Every accepted body is appended as one line and made durable (`fdatasync`) before its
request is answered. Requests that arrive together share one write and one sync: callers put
their line in a queue and wait; a single writer task takes everything queued, writes it in
one `os.write`, syncs once in a worker thread, then wakes all of them. While a sync runs, the
next group gathers, so the sync rate adapts to the load instead of limiting it.

Segments are named `<prefix>-<UTC start time>-<n>.ndjson`, so names sort by age and never
repeat; a new one starts past `max_bytes` or `max_seconds`. A segment is only ever appended
to by the process that created it: on start, a writer takes a lock on its directory and cuts
any half-written last line a killed predecessor left behind (that line was never answered
200, so the sender retries it), then starts a fresh segment.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "LOCK_FILE_NAME",
    "SegmentStats",
    "SegmentWriter",
    "check_directory",
    "recover_segment",
]

logger = logging.getLogger(__name__)

LOCK_FILE_NAME = ".receiver.lock"
_TAIL_CHUNK = 1 << 16


@dataclass(slots=True)
class SegmentStats:
    """Counters of a segment writer.

    Attributes:
        lines: Lines made durable.
        bytes: Bytes made durable.
        syncs: Groups written and synced (one sync each).
        largest_group: Most lines made durable by one sync.
        sync_seconds: Time spent writing and syncing, in total.
        segments: Segments started.
        failures: Groups whose write or sync failed (their callers got the error).
        recovered_bytes: Half-written bytes cut from old segments at start.
    """

    lines: int = 0
    bytes: int = 0
    syncs: int = 0
    largest_group: int = 0
    sync_seconds: float = 0.0
    segments: int = 0
    failures: int = 0
    recovered_bytes: int = 0


def _lock(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(directory / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock_fd)
        raise BlockingIOError(
            f"{directory}: another receiver is writing here (lock {LOCK_FILE_NAME})"
        ) from None
    return lock_fd


def check_directory(directory: Path) -> None:
    """Fail early, with one clear error, when a receiver could not write to `directory`.

    Raises:
        BlockingIOError: another receiver holds the directory.
        OSError: the directory cannot be created or written.
    """
    os.close(_lock(directory))


def recover_segment(path: Path) -> int:
    """Cut a segment back to its last complete line.

    Args:
        path: A segment file.

    Returns:
        The number of bytes cut (0 when the file ends with a newline or is empty).
    """
    with path.open("r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        end = size
        while end > 0:
            start = max(0, end - _TAIL_CHUNK)
            handle.seek(start)
            chunk = handle.read(end - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            end = start
        else:
            keep = 0
        if keep == size:
            return 0
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
        return size - keep


class SegmentWriter:
    """Appends lines to rotating segment files; `append` returns once the line is durable.

    Attributes:
        directory: Where the segments go (created if missing).
        prefix: File name prefix of the segments.
        max_bytes: Size past which a new segment starts.
        max_seconds: Age past which a new segment starts.
        fsync: Whether to sync each group (always, except in some tests).
        stats: Counters.

    Example:
        >>> async def demo(folder):
        ...     writer = SegmentWriter(folder)
        ...     await writer.start()
        ...     await writer.append(b'{"a":1}\\n')
        ...     await writer.close()
        ...     return writer.stats.lines
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     asyncio.run(demo(Path(folder)))
        1
    """

    def __init__(
        self,
        directory: Path,
        *,
        prefix: str = "webhooks",
        max_bytes: int = 64 << 20,
        max_seconds: float = 300.0,
        fsync: bool = True,
    ) -> None:
        self.directory = directory
        self.prefix = prefix
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.fsync = fsync
        self.stats = SegmentStats()
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # One thread: writes must stay in order, and one sync at a time is the point.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{prefix}-sync")
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._opened_at = 0.0
        self._sequence = 0

    @property
    def current_segment(self) -> Path | None:
        """The segment being written, if any."""
        return self._path

    # Lifecycle.

    async def start(self) -> None:
        """Lock the directory, repair segments left by a killed process, start the writer.

        Raises:
            BlockingIOError: another process writes to this directory.
            OSError: the directory cannot be created or written.
        """
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._prepare)
        self._wakeup = asyncio.Event()
        self._task = loop.create_task(self._run(), name=f"{self.prefix}-writer")

    def _prepare(self) -> None:
        self._lock_fd = _lock(self.directory)
        for path in sorted(self.directory.glob(f"{self.prefix}-*.ndjson")):
            cut = recover_segment(path)
            if cut:
                self.stats.recovered_bytes += cut
                logger.warning("%s: cut %d bytes of a half-written last line", path.name, cut)

    async def close(self) -> None:
        """Write and sync everything queued, close the segment, release the directory."""
        if self._task is None:
            self._release()
            return
        self._closing = True
        assert self._wakeup is not None
        self._wakeup.set()
        await self._task
        self._task = None
        await asyncio.get_running_loop().run_in_executor(self._executor, self._release)
        self._executor.shutdown(wait=True)

    def _release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # Appending.

    async def append(self, line: bytes) -> None:
        """Queue one line (ending in a newline) and wait until it is durable.

        Raises:
            RuntimeError: the writer is not started or is closing.
            OSError: writing or syncing failed; the line is not stored.
        """
        if self._task is None or self._closing or self._wakeup is None:
            raise RuntimeError("the segment writer is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((line, future))
        self._wakeup.set()
        # A caller cancelled while waiting cancels only its wait: the line stays queued.
        await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wakeup is not None
        while True:
            if not self._pending:
                if self._closing:
                    return
                await self._wakeup.wait()
                self._wakeup.clear()
                continue
            group, self._pending = self._pending, []
            data = b"".join(line for line, _ in group)
            try:
                await loop.run_in_executor(self._executor, self._write, data)
            except OSError as exc:
                self.stats.failures += 1
                logger.error("segment write failed (%s): %d requests refused", exc, len(group))
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
            else:
                stats = self.stats
                stats.lines += len(group)
                stats.bytes += len(data)
                stats.largest_group = max(stats.largest_group, len(group))
                for _, future in group:
                    if not future.done():
                        future.set_result(None)

    # The worker thread.

    def _write(self, data: bytes) -> None:
        started = time.perf_counter()
        if self._fd is None or self._needs_rotation(len(data)):
            self._rotate()
        assert self._fd is not None
        good_size = self._size
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            if self.fsync:
                os.fdatasync(self._fd)
        except OSError:
            # Never leave half a group in a segment: the next line would be glued to it.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, good_size)
            self._close_segment()
            raise
        self._size += len(data)
        self.stats.syncs += 1
        self.stats.sync_seconds += time.perf_counter() - started

    def _needs_rotation(self, incoming: int) -> bool:
        if self._size == 0:
            return False
        too_big = self._size + incoming > self.max_bytes
        return too_big or time.monotonic() - self._opened_at > self.max_seconds

    def _rotate(self) -> None:
        self._close_segment()
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        while True:
            self._sequence += 1
            path = self.directory / f"{self.prefix}-{stamp}-{self._sequence:04d}.ndjson"
            try:
                fd = os.open(path, flags, 0o644)
            except FileExistsError:
                continue
            break
        if self.fsync:
            # The new name must survive a crash too, not only the bytes in it.
            directory_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(directory_fd)
            finally:
                os.close(directory_fd)
        self._fd, self._path, self._size = fd, path, 0
        self._opened_at = time.monotonic()
        self.stats.segments += 1

    def _close_segment(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
            self._path = None
            self._size = 0
