"""Writing the landed tables: Parquet files per `dt=YYYY-MM-DD` partition, each atomically.

A batch's rows of one table arrive as one Arrow table with a `dt` date column. They are
grouped by day (one sort of the day column, then zero-copy slices; or, for statuses, the
day's rows gathered in the writer's thread, a big day in two halves), each day is written by
pyarrow in the table's explicit schema into the run's staging folder (two writers at a time),
synced, and renamed to `events/<table>/dt=YYYY-MM-DD/part-<run id>-<batch>[-<half>].parquet`,
so readers of `events/<table>/**/*.parquet` only ever see whole files. Nothing is rewritten.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .manifest import sync_directory
from .schema import DISTINCT_COLUMNS, OUTPUT_SCHEMAS

__all__ = [
    "PARTITION_COLUMN",
    "PIECE_ROWS",
    "existing_files",
    "publish_file",
    "sentinel_file",
    "split_by_day",
    "write_days",
    "write_file",
    "write_partitions",
]

PARTITION_COLUMN = "dt"
_WRITERS = 2
# Kept rows of a day from which write_days writes it as two files (see there).
PIECE_ROWS = 200_000


def existing_files(table_dir: Path, days: list[str] | None = None) -> list[str]:
    """The Parquet files of a table, all of them or those of some days (`YYYY-MM-DD`)."""
    if days is None:
        found = table_dir.glob(f"{PARTITION_COLUMN}=*/*.parquet")
    else:
        found = (
            path
            for day in days
            for path in (table_dir / f"{PARTITION_COLUMN}={day}").glob("*.parquet")
        )
    return sorted(str(path) for path in found if not path.name.startswith("."))


def sentinel_file(directory: Path, table: str) -> str:
    """An empty Parquet file with the table's schema (so a list of files is never empty)."""
    path = directory / f"{table}.parquet"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / f".{table}.parquet.tmp"
        # A writer closed without rows: Schema.empty_table() would import pandas (0.5 s).
        pq.ParquetWriter(temporary, OUTPUT_SCHEMAS[table]).close()
        os.replace(temporary, path)
    return str(path)


def split_by_day(data: pa.Table) -> list[tuple[str, pa.Table]]:
    """Rows grouped by their `dt` date: `(YYYY-MM-DD, rows without dt)`, by day."""
    days = data.column(PARTITION_COLUMN).cast(pa.date32())
    if days.null_count:
        raise ValueError("rows without a dt cannot be written to a partition")
    rows = data.drop_columns([PARTITION_COLUMN])
    counts = pc.value_counts(days).to_pylist()
    if len(counts) == 1:
        return [(counts[0]["values"].isoformat(), rows)]
    order = pc.sort_indices(days)
    rows = rows.take(order)
    parts = []
    start = 0
    for item in sorted(counts, key=lambda item: item["values"]):
        parts.append((item["values"].isoformat(), rows.slice(start, item["counts"])))
        start += item["counts"]
    return parts


def publish_file(written: Path, table_dir: Path, day: str, name: str) -> Path:
    """Sync a finished file and rename it into its partition (`<table>/dt=<day>/<name>`).

    Args:
        written: The file, on the same filesystem as `table_dir`.
        table_dir: The table's folder.
        day: The partition's day, `YYYY-MM-DD`.
        name: The file's name in the partition.

    Returns:
        The file's final path.
    """
    target_dir = table_dir / f"{PARTITION_COLUMN}={day}"
    target_dir.mkdir(parents=True, exist_ok=True)
    with written.open("rb") as handle:
        os.fsync(handle.fileno())
    target = target_dir / name
    os.replace(written, target)
    sync_directory(target_dir)
    return target


def _keeping_dictionaries(schema: pa.Schema, given: pa.Schema) -> pa.Schema:
    """`schema`, except that a column given as a dictionary of the right values stays one.

    The Parquet writer writes such a column's dictionary as it is, instead of hashing every
    value to build one.
    """
    fields = []
    for field in schema:
        kind = given.field(field.name).type
        if pa.types.is_dictionary(kind) and kind.value_type == field.type:
            field = field.with_type(kind)
        fields.append(field)
    return pa.schema(fields)


def write_file(
    rows: pa.Table, table_dir: Path, table: str, day: str, name: str, *, staging: Path
) -> Path:
    """Write one day's rows in the table's schema and publish the file into its partition.

    Args:
        rows: The day's rows (without `dt`).
        table_dir: The table's folder (`events/<table>`).
        table: The table's name (picks the schema).
        day: The partition's day, `YYYY-MM-DD`.
        name: The file's name in the partition.
        staging: A folder on the same filesystem to write into first.

    Returns:
        The file's final path.
    """
    schema = OUTPUT_SCHEMAS[table]
    staging.mkdir(parents=True, exist_ok=True)
    written = staging / f"{table}-{day}-{name}"
    distinct = DISTINCT_COLUMNS.get(table, frozenset())
    pq.write_table(
        rows.select(schema.names).cast(_keeping_dictionaries(schema, rows.schema)),
        written,
        compression="zstd",
        compression_level=1,
        use_dictionary=[name for name in schema.names if name not in distinct],
        # Without the Arrow schema in the file, a dictionary column reads back as the plain
        # type of the table's schema (Parquet's own types say everything else).
        store_schema=False,
    )
    return publish_file(written, table_dir, day, name)


def write_partitions(
    data: pa.Table, table_dir: Path, table: str, name: str, *, staging: Path
) -> dict[str, int]:
    """Write rows carrying a `dt` date column as one file per day, in the table's schema.

    Args:
        data: The rows, with `dt`.
        table_dir: The table's folder (`events/<table>`).
        table: The table's name (picks the schema).
        name: The file's name in each partition.
        staging: A folder on the same filesystem to write into first.

    Returns:
        Rows written per day.
    """
    if data.num_rows == 0:
        return {}

    def write(day: str, rows: pa.Table) -> int:
        write_file(rows, table_dir, table, day, name, staging=staging)
        return rows.num_rows

    parts = split_by_day(data)
    with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        counts = list(pool.map(lambda part: write(*part), parts))
    return {day: count for (day, _), count in zip(parts, counts, strict=True)}


def write_days(
    rows: pa.Table,
    keep: pa.BooleanArray | pa.ChunkedArray,
    days: pa.Array,
    table_dir: Path,
    table: str,
    name: str,
    *,
    staging: Path,
    piece_rows: int = PIECE_ROWS,
) -> dict[str, int]:
    """Write the kept rows of each day as that day's file, two files at a time.

    A day with at least twice `piece_rows` kept rows is written as two files (`name` with
    `-1`, `-2` before its suffix), one per writer: a campaign's landing puts most events on
    one day, whose single file would otherwise be written by one core while the other waits.
    Each file's rows are gathered out of `rows` in the thread that writes them, so that runs
    in parallel too and no sorted copy of the whole batch is made; rows keep their order.

    Args:
        rows: The rows, with a `dt` date column (and maybe columns the table does not keep).
        keep: One flag per row: False for rows not to write.
        days: The days to write, as an Arrow `date32` array (comparing with Arrow scalars
            spares pyarrow an import of pandas, which a Python date would cost).
        table_dir: The table's folder (`events/<table>`).
        table: The table's name (picks the schema).
        name: The file's name in each partition.
        staging: A folder on the same filesystem to write into first.
        piece_rows: A day is split in two from twice this many rows.

    Returns:
        Rows written per day (`YYYY-MM-DD`; days without a kept row get no file).
    """
    # Only the columns the table keeps are gathered: the rest would be copied for nothing.
    rows = rows.select([*OUTPUT_SCHEMAS[table].names, PARTITION_COLUMN])
    stem, suffix = os.path.splitext(name)
    # (day, file name, first row, rows, the day's kept rows among them): each file is a filter
    # of a slice (a gather by indices was measured at twice the cost).
    pieces: list[tuple[str, str, int, int, pa.ChunkedArray]] = []
    for day in days:
        wanted = pc.and_(keep, pc.equal(rows.column(PARTITION_COLUMN), day))
        count = pc.sum(wanted).as_py() or 0
        iso = day.as_py().isoformat()
        if count >= 2 * piece_rows:
            # The half way row: where the day's (count // 2 + 1)-th kept row is.
            middle = pc.indices_nonzero(wanted)[count // 2].as_py()
            pieces.append((iso, f"{stem}-1{suffix}", 0, middle, wanted.slice(0, middle)))
            pieces.append((iso, f"{stem}-2{suffix}", middle, rows.num_rows, wanted.slice(middle)))
        elif count:
            pieces.append((iso, name, 0, rows.num_rows, wanted))

    def write(piece: tuple[str, str, int, int, pa.ChunkedArray]) -> tuple[str, int]:
        iso, file_name, start, stop, wanted = piece
        selected = rows.slice(start, stop - start).filter(wanted)
        write_file(selected, table_dir, table, iso, file_name, staging=staging)
        return iso, selected.num_rows

    written: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        for iso, count in pool.map(write, pieces):
            written[iso] = written.get(iso, 0) + count
    return written
