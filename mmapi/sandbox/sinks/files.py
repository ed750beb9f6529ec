"""A sink that appends each body as one NDJSON line to rotating files in a directory."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from .base import WebhookSink

__all__ = ["FileSink"]


class FileSink(WebhookSink):
    """Writes bodies to `webhooks-<n>.ndjson`, starting a new file every `max_lines` lines.

    Each body is flushed as soon as it is written, so a reader never sees half a line once
    the emitter has counted the body as delivered.

    Attributes:
        directory: Where the files go (created if missing).
        max_lines: Lines per file before the next one starts.
    """

    def __init__(self, directory: Path, *, max_lines: int) -> None:
        self.directory = directory
        self.max_lines = max_lines
        self._number = 0
        self._lines = 0
        self._file: IO[bytes] | None = None

    def _open_next(self) -> IO[bytes]:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Skip numbers already used, so a restarted sandbox never appends to an old run.
        while (self.directory / f"webhooks-{self._number}.ndjson").exists():
            self._number += 1
        self._lines = 0
        return (self.directory / f"webhooks-{self._number}.ndjson").open("ab")

    async def deliver(self, body: bytes, headers: dict[str, str]) -> bool:
        """Append the body as one line."""
        if self._file is None or self._lines >= self.max_lines:
            if self._file is not None:
                self._file.close()
            self._file = self._open_next()
        self._file.write(body + b"\n")
        self._file.flush()
        self._lines += 1
        return True

    async def aclose(self) -> None:
        """Close the current file."""
        if self._file is not None:
            self._file.close()
            self._file = None
