"""What was landed: per source file, the offset landed up to; and the lock of an output folder.

The manifest is one JSON file, replaced atomically after each batch's outputs are durable,
so a crash never records as landed what is not: at worst a batch is read again, and the
deduplication against what is already written keeps the outputs the same.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

__all__ = ["MANIFEST_VERSION", "LandingLock", "Manifest", "ManifestEntry", "write_atomically"]

MANIFEST_VERSION = 1


def write_atomically(path: Path, data: bytes) -> None:
    """Write a file whole or not at all: a synced temporary file renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    """Make renames and new names in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(slots=True)
class ManifestEntry:
    """How far one source file is landed.

    Attributes:
        offset: Bytes landed (decompressed bytes for gzip; for a JSON document, its size).
        size: The file's size when last landed (compressed size for gzip).
        mtime: Its modification time then.
        kind: `ndjson`, `json`, `ndjson.gz` or `json.gz`.
        landed_at: When it was last landed (ISO 8601, UTC).
    """

    offset: int
    size: int
    mtime: float | None
    kind: str
    landed_at: str


class Manifest:
    """The landing manifest of an output folder.

    Attributes:
        path: The JSON file.
        entries: Source uri -> entry.

    Example:
        >>> import tempfile
        >>> manifest = Manifest(Path(tempfile.mkdtemp()) / "manifest.json")
        >>> manifest.record("raw/a.ndjson", offset=10, size=12, mtime=None, kind="ndjson")
        >>> manifest.save()
        >>> Manifest.load(manifest.path).entries["raw/a.ndjson"].offset
        10
    """

    def __init__(self, path: Path, entries: dict[str, ManifestEntry] | None = None) -> None:
        self.path = path
        self.entries = entries or {}

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read the manifest (an empty one when the file does not exist).

        Raises:
            ValueError: the file is not a manifest this code can read.
        """
        try:
            data: Any = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return cls(path)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{path}: not a landing manifest ({exc})") from None
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            raise ValueError(f"{path}: not a landing manifest of version {MANIFEST_VERSION}")
        entries = {uri: ManifestEntry(**entry) for uri, entry in data.get("files", {}).items()}
        return cls(path, entries)

    def get(self, uri: str) -> ManifestEntry | None:
        """The entry of a source file, if it was ever landed."""
        return self.entries.get(uri)

    def record(self, uri: str, *, offset: int, size: int, mtime: float | None, kind: str) -> None:
        """Remember that `uri` is landed up to `offset`."""
        landed_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.entries[uri] = ManifestEntry(offset, size, mtime, kind, landed_at)

    def save(self) -> None:
        """Replace the file atomically."""
        files = {uri: asdict(entry) for uri, entry in sorted(self.entries.items())}
        data = orjson.dumps(
            {"version": MANIFEST_VERSION, "files": files}, option=orjson.OPT_INDENT_2
        )
        write_atomically(self.path, data)


class LandingLock:
    """An exclusive lock on an output folder, so two landing runs never write it at once.

    Attributes:
        path: The lock file.

    Raises:
        BlockingIOError: on entering, when another run holds the lock.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> LandingLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BlockingIOError(
                f"{self.path.parent}: another landing run is writing here ({self.path.name})"
            ) from None
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
