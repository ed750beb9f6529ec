"""Raw webhook files: finding them (folder, glob or URL, through fsspec) and staging what to read.

Staging turns the part of a file not landed yet into a local NDJSON file DuckDB can read whole:

- NDJSON read from the start to its last newline is used in place when it is local; otherwise
  (landed up to an offset, still being written, or remote) the bytes from the offset to the
  last complete line are copied into the staging folder. A last line without a newline counts
  as complete when it is a whole JSON document, or when the file has not changed for
  `settle_seconds` (a writer that died mid-line); otherwise it waits for the next run.
- gzip is decompressed while copied; offsets then count decompressed bytes.
- A JSON document (`.json`: an array of bodies, or one body) is parsed and written one body a
  line; offsets are then element indexes. Documents are read whole, so they should be written
  at once (rename into place).

Lines refused before DuckDB sees them (not readable, not objects) come back as `RejectedLine`.
"""

from __future__ import annotations

import fnmatch
import gzip
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

import orjson
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from .. import storage

__all__ = ["RejectedLine", "SourceFile", "StagedFile", "Stager", "find_sources"]

_CHUNK = 8 << 20
_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A raw file found under the source.

    Attributes:
        uri: Its name in the manifest and in `source_file` columns (absolute path or URL).
        path: Its path within the filesystem.
        size: Size in bytes (compressed size for gzip).
        mtime: Modification time (Unix seconds), when the filesystem tells.
        compressed: Whether it is gzip (`.gz`).
        document: Whether it is one JSON document (`.json`) rather than NDJSON.
    """

    uri: str
    path: str
    size: int
    mtime: float | None
    compressed: bool
    document: bool

    @property
    def kind(self) -> str:
        """`ndjson`, `json`, `ndjson.gz` or `json.gz`."""
        return ("json" if self.document else "ndjson") + (".gz" if self.compressed else "")


@dataclass(slots=True)
class StagedFile:
    """The part of a source file one landing reads, as a local NDJSON file.

    Attributes:
        file_id: Number of the file within the run.
        source: The source file.
        path: The local file DuckDB reads.
        base_offset: Offset in the source of `path`'s first byte.
        end_offset: Offset the source is landed up to once this file lands.
        line_offsets: For JSON documents: the source offset (element index) of each line.
        temporary: Whether `path` is a copy in the staging folder.
    """

    file_id: int
    source: SourceFile
    path: Path
    base_offset: int
    end_offset: int
    line_offsets: list[int] | None = None
    temporary: bool = True


@dataclass(frozen=True, slots=True)
class RejectedLine:
    """A line refused before it reached DuckDB, or by DuckDB on the careful path.

    Attributes:
        source_file: The source file's uri.
        source_offset: Byte offset of the line (element index in a JSON document).
        raw_line: The line's bytes.
        reason: Why it was refused.
    """

    source_file: str
    source_offset: int
    raw_line: bytes
    reason: str


def _mtime(info: dict[str, Any]) -> float | None:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def _source_file(fs: AbstractFileSystem, info: dict[str, Any]) -> SourceFile:
    path = info["name"]
    name = PurePosixPath(path).name.lower()
    compressed = name.endswith(".gz")
    if compressed:
        name = name[:-3]
    uri = path if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(path)
    return SourceFile(
        uri=uri,
        path=path,
        size=int(info.get("size") or 0),
        mtime=_mtime(info),
        compressed=compressed,
        document=name.endswith(".json"),
    )


def find_sources(
    source: str, patterns: tuple[str, ...]
) -> tuple[AbstractFileSystem, list[SourceFile]]:
    """The raw files under `source`, sorted by name.

    Args:
        source: A folder (its files matching `patterns`, not its subfolders), a glob, or one
            file; a local path or any fsspec URL (`s3://`, `gs://`, `https://`, ...).
        patterns: File name patterns taken from a folder.

    Returns:
        The filesystem and the files.

    Raises:
        FileNotFoundError: nothing exists at `source` (a glob matching nothing is no error).
    """
    fs, root = storage.filesystem(source)
    if isinstance(fs, LocalFileSystem):
        root = str(Path(root).resolve()) if not _GLOB_CHARACTERS & set(root) else root
    if _GLOB_CHARACTERS & set(root):
        infos = list(fs.glob(root, detail=True).values())
    elif fs.isdir(root):
        infos = [
            info
            for info in fs.ls(root, detail=True)
            if any(fnmatch.fnmatch(PurePosixPath(info["name"]).name, p) for p in patterns)
        ]
    elif fs.exists(root):
        infos = [fs.info(root)]
    else:
        raise FileNotFoundError(f"{source}: no such file or folder")
    files = [_source_file(fs, info) for info in infos if info.get("type", "file") == "file"]
    return fs, sorted(files, key=lambda f: f.uri)


class Stager:
    """Makes `StagedFile`s of source files in a staging folder.

    Attributes:
        fs: The sources' filesystem.
        directory: The staging folder (created if missing).
        max_line_bytes: Longest element written from a JSON document.
        settle_seconds: Age after which a file's unterminated last line counts as complete.
    """

    def __init__(
        self,
        fs: AbstractFileSystem,
        directory: Path,
        *,
        max_line_bytes: int,
        settle_seconds: float,
    ) -> None:
        self.fs = fs
        self.directory = directory
        self.max_line_bytes = max_line_bytes
        self.settle_seconds = settle_seconds
        self._local = isinstance(fs, LocalFileSystem)

    def _tail_rule(self, source: SourceFile) -> Callable[[bytes], bool]:
        settled = source.mtime is not None and time.time() - source.mtime > self.settle_seconds

        def complete(tail: bytes) -> bool:
            if settled:
                return True
            try:
                orjson.loads(tail)
            except orjson.JSONDecodeError:
                return False
            return True

        return complete

    def stage(
        self, source: SourceFile, start: int, file_id: int
    ) -> tuple[StagedFile | None, list[RejectedLine]]:
        """Stage `source` from offset `start`.

        Args:
            source: The file.
            start: Offset already landed (0 for documents, which are read whole).
            file_id: Number to give the staged file.

        Returns:
            The staged file (None when there is no complete line to read) and the lines
            refused while staging.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        if source.document:
            return self._stage_document(source, file_id)
        target = self.directory / f"{file_id:06d}.ndjson"
        if source.compressed:
            return self._stage_gzip(source, start, file_id, target)
        if self._local and start == 0 and self._ends_with_newline(source):
            staged = StagedFile(file_id, source, Path(source.path), 0, source.size, temporary=False)
            return staged, []
        with self.fs.open(source.path, "rb") as reader:
            reader.seek(start)
            kept = _copy_complete_lines(_chunks(reader), target, self._tail_rule(source))
        if kept == 0:
            target.unlink(missing_ok=True)
            return None, []
        return StagedFile(file_id, source, target, start, start + kept), []

    def _ends_with_newline(self, source: SourceFile) -> bool:
        if source.size == 0:
            return False
        with open(source.path, "rb") as handle:
            handle.seek(source.size - 1)
            return handle.read(1) == b"\n"

    def _stage_gzip(
        self, source: SourceFile, start: int, file_id: int, target: Path
    ) -> tuple[StagedFile | None, list[RejectedLine]]:
        rejected: list[RejectedLine] = []
        with self.fs.open(source.path, "rb") as reader:
            chunks = _gunzip_chunks(reader, start)
            try:
                kept = _copy_complete_lines(chunks, target, self._tail_rule(source))
            except zlib.error as exc:
                kept = _complete_prefix(target)
                reason = f"not readable as gzip after {start + kept} bytes: {exc}"
                rejected.append(RejectedLine(source.uri, start + kept, b"", reason))
        if kept == 0:
            target.unlink(missing_ok=True)
            return None, rejected
        return StagedFile(file_id, source, target, start, start + kept), rejected

    def _stage_document(
        self, source: SourceFile, file_id: int
    ) -> tuple[StagedFile | None, list[RejectedLine]]:
        with self.fs.open(source.path, "rb") as raw:
            data = gzip.decompress(raw.read()) if source.compressed else raw.read()
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            kept = data[: self.max_line_bytes]
            cut = "" if len(kept) == len(data) else f" (first {len(kept)} bytes kept)"
            return None, [RejectedLine(source.uri, 0, kept, f"not valid JSON: {exc}{cut}")]
        bodies = document if isinstance(document, list) else [document]
        lines: list[bytes] = []
        offsets: list[int] = []
        rejected: list[RejectedLine] = []
        for index, body in enumerate(bodies):
            line = orjson.dumps(body)
            if not isinstance(body, dict):
                reason = f"not a JSON object (a {type(body).__name__})"
                rejected.append(RejectedLine(source.uri, index, line, reason))
                continue
            lines.append(line)
            offsets.append(index)
        if not lines:
            return None, rejected
        target = self.directory / f"{file_id:06d}.ndjson"
        target.write_bytes(b"\n".join(lines) + b"\n")
        staged = StagedFile(file_id, source, target, 0, source.size, line_offsets=offsets)
        return staged, rejected


def _chunks(reader: IO[bytes]) -> Iterator[bytes]:
    while chunk := reader.read(_CHUNK):
        yield chunk


def _gunzip_chunks(reader: IO[bytes], skip: int) -> Iterator[bytes]:
    """Decompressed bytes of a gzip stream (members one after another), from offset `skip`.

    A stream cut short (still being written) ends where its data ends, without an error.
    """
    inflater = zlib.decompressobj(wbits=31)
    for compressed in _chunks(reader):
        while compressed:
            data = inflater.decompress(compressed)
            if inflater.eof:
                compressed = inflater.unused_data
                inflater = zlib.decompressobj(wbits=31)
            else:
                compressed = b""
            if skip >= len(data):
                skip -= len(data)
                continue
            yield data[skip:]
            skip = 0


def _copy_complete_lines(
    chunks: Iterator[bytes], target: Path, tail_complete: Callable[[bytes], bool]
) -> int:
    """Copy chunks into `target`, up to the last newline or through a complete last line.

    Returns:
        The source bytes taken (the staged file holds one more when a newline was added after
        a complete last line).
    """
    total = 0
    kept = 0
    with target.open("w+b") as out:
        try:
            for chunk in chunks:
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    kept = total + newline + 1
                out.write(chunk)
                total += len(chunk)
        except BaseException:
            out.truncate(kept)
            raise
        if total > kept:
            out.seek(kept)
            tail = out.read()
            if tail.strip(b" \t\r\x0b\x0c") and tail_complete(tail):
                out.write(b"\n")
                return total
        out.truncate(kept)
    return kept


def _complete_prefix(target: Path) -> int:
    return target.stat().st_size if target.exists() else 0
