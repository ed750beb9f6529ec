"""Extract: stream a segment (or any query) into a Parquet file, in constant memory.

The rows are written exactly as the warehouse returns them, in its order, one Parquet row
group per Arrow record batch, so a segment of any size holds one batch in memory. The file
appears only when complete (`ParquetSink`). Give a segment query an `ORDER BY` when row
numbers (`source_row` in the plan and rejects) must be the same on every run; arms and
message keys do not depend on row order.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from ..campaign import SegmentSource
from .files import ParquetSink
from .settings import DEFAULT_BATCH_ROWS
from .sources import open_batches, segment_query

__all__ = ["ExtractResult", "extract_query", "extract_segment"]


@dataclass(frozen=True)
class ExtractResult:
    """What an extract wrote.

    Attributes:
        path: The Parquet file.
        rows: Rows written.
        batches: Record batches (row groups) written.
        columns: Column names, in order.
        seconds: Wall time of the extract.

    Example:
        >>> ExtractResult(Path("a.parquet"), 2, 1, ["phone"], 0.1).as_dict()["rows"]
        2
    """

    path: Path
    rows: int
    batches: int
    columns: list[str]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """Plain data (the path as a string) for task results and logs."""
        return {**asdict(self), "path": str(self.path), "seconds": round(self.seconds, 3)}


def extract_query(
    query: str | None,
    connection: str,
    out_path: str | Path,
    *,
    path: str | None = None,
    engine: Engine | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> ExtractResult:
    """Run `query` on `connection` (or read the file at `path`) into a Parquet file.

    Args:
        query: The SQL; None when reading `path`.
        connection: DuckDB file, SQLAlchemy URL, or `block:<name>` with its `engine`.
        out_path: The Parquet file to write.
        path: A Parquet or CSV file to read instead of a query.
        engine: A SQLAlchemy engine (a Prefect block's) to use instead of `connection`.
        batch_rows: Rows per record batch and row group.

    Returns:
        Where it wrote, how many rows and batches.

    Raises:
        WarehouseUnreachableError: the warehouse cannot be reached or opened.
        ExtractError: the query or file cannot be read.
    """
    started = time.perf_counter()
    with (
        open_batches(
            query=query, path=path, connection=connection, engine=engine, batch_rows=batch_rows
        ) as reader,
        ParquetSink(out_path, reader.schema) as sink,
    ):
        for batch in reader:
            sink.write(batch)
    return ExtractResult(
        path=Path(out_path),
        rows=sink.rows,
        batches=sink.batches,
        columns=list(reader.schema.names),
        seconds=time.perf_counter() - started,
    )


def extract_segment(
    segment: SegmentSource,
    out_path: str | Path,
    *,
    engine: Engine | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> ExtractResult:
    """Stream a campaign's segment into `audience.parquet` (or `out_path`).

    Args:
        segment: The spec's segment source (SQL file, inline query, or Parquet/CSV path).
        out_path: The Parquet file to write.
        engine: For `block:` connections, the block's SQLAlchemy engine.
        batch_rows: Rows per record batch and row group.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> segment = SegmentSource(query="SELECT 1 AS x", connection=":memory:")
        >>> extract_segment(segment, folder / "audience.parquet").rows
        1
    """
    return extract_query(
        segment_query(segment),
        segment.connection,
        out_path,
        path=segment.path,
        engine=engine,
        batch_rows=batch_rows,
    )
