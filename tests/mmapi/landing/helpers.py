"""Helpers of the landing tests: write raw files, land them, read the tables back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.dataset as ds

from mmapi.landing import LandingConfig, land


def write_lines(path: Path, lines: list[bytes], *, final_newline: bool = True) -> Path:
    """Write NDJSON lines to `path` (creating its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + (b"\n" if final_newline else b""))
    return path


def append_bytes(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def land_dir(source: Path | str, out: Path, **fields: Any) -> dict[str, Any]:
    """Land `source` into `out`; the run's summary."""
    return land(LandingConfig(source=str(source), out=out, **fields)).as_dict()


def rows(out: Path, table: str) -> list[dict[str, Any]]:
    """Every row of a landed table (with its `dt` partition), in no particular order."""
    folder = out / "events" / table
    if not folder.exists():
        return []
    dataset = ds.dataset(folder, format="parquet", partitioning="hive")
    return dataset.to_table().to_pylist()


def files(out: Path, table: str) -> list[Path]:
    return sorted((out / "events" / table).glob("dt=*/*.parquet"))
