"""Configuration of a landing run: where the raw webhooks are, where the events go, and limits."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DEFAULT_BATCH_BYTES",
    "DEFAULT_MAX_LINE_BYTES",
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_PATTERNS",
    "DEFAULT_SETTLE_SECONDS",
    "MAX_EVENT_SECONDS",
    "MIN_EVENT_SECONDS",
    "LandingConfig",
]

# Raw bytes read per batch: each batch is parsed, written and recorded in the manifest whole.
DEFAULT_BATCH_BYTES = 512 << 20
# DuckDB's maximum_object_size: longer lines are quarantined. DuckDB never uses less than
# 16 MiB (and reads up to twice that); Meta's bodies are kilobytes.
DEFAULT_MAX_LINE_BYTES = 16 << 20
DEFAULT_MEMORY_LIMIT = "1GB"
# A file unchanged this long is finished: its last line counts even without a newline.
DEFAULT_SETTLE_SECONDS = 300.0
# Files taken from a folder (not its subfolders: the receiver's quarantine/ is one).
DEFAULT_PATTERNS = (
    "*.ndjson",
    "*.jsonl",
    "*.json",
    "*.ndjson.gz",
    "*.jsonl.gz",
    "*.json.gz",
)
# Event timestamps outside [2000-01-01, 2100-01-01) are refused as implausible.
MIN_EVENT_SECONDS = 946_684_800
MAX_EVENT_SECONDS = 4_102_444_799


class LandingConfig(BaseModel):
    """What to land, where, and within which limits.

    Attributes:
        source: A folder, glob or URL (any fsspec protocol) of raw webhook files: the
            receiver's segments, or exports of bodies as NDJSON, JSON documents or gzip.
        out: Output folder, or an object store URL (`s3://bucket/lake`: see
            `mmapi.landing.remote`); events go to `out/events/<table>/dt=YYYY-MM-DD/`.
        patterns: File name patterns taken when `source` is a folder.
        batch_bytes: Raw bytes per batch.
        max_line_bytes: Longer lines are quarantined (DuckDB's `maximum_object_size`, which
            is never below 16 MiB).
        settle_seconds: A file unchanged this long is finished: its last line counts even
            without a newline.
        memory_limit: DuckDB's memory limit (it spills to disk past it).
        threads: DuckDB threads (None = one per core).

    Example:
        >>> LandingConfig(source="raw/", out=Path("lake")).batch_bytes == DEFAULT_BATCH_BYTES
        True
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1, description="A folder, glob or URL of raw webhook files.")
    out: str | Path = Field(
        description="Output folder or URL; events go to out/events/<table>/dt=.../."
    )
    patterns: tuple[str, ...] = Field(
        default=DEFAULT_PATTERNS, min_length=1, description="File patterns taken from a folder."
    )
    batch_bytes: int = Field(default=DEFAULT_BATCH_BYTES, ge=1, description="Raw bytes per batch.")
    max_line_bytes: int = Field(
        default=DEFAULT_MAX_LINE_BYTES, ge=1 << 20, description="Longer lines are quarantined."
    )
    settle_seconds: float = Field(
        default=DEFAULT_SETTLE_SECONDS, ge=0, description="Age after which a file is finished."
    )
    memory_limit: str = Field(
        default=DEFAULT_MEMORY_LIMIT,
        pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$",
        description="DuckDB memory limit.",
    )
    threads: int | None = Field(default=None, ge=1, description="DuckDB threads (None = cores).")
