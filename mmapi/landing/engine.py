"""One landing batch in DuckDB: read, check, deduplicate and write the events of some files.

The fast path hands all files of the batch to one `read_json` (`sql/landing/status_rows.sql`),
fetched as Arrow: a row per status, the bulk of the batch, and a marker row per change that
holds anything else (clicks, preferences, account updates, or a structure problem), carrying
that change as JSON; `other_rows.sql` reads those into a small table. The files are parsed
once. The fast path holds when every line fits the schema and breaks no rule, which is the
normal case. Otherwise the files at fault take the careful path, one file at a time:

1. its lines are framed with their byte offsets; lines that are not UTF-8, not JSON, not an
   object, or that hold an array where the schema has an object (or the reverse) are refused
   with the JSON path at fault (`line_checks.sql`);
2. the rest are rewritten with their offset as first key and read by the same query; if
   DuckDB still refuses the set (a duplicate key, a line over its size limit, ...), it is
   halved until each refused line stands alone and is refused with DuckDB's own message;
3. lines with a rule problem are now known by offset and quarantined whole.

Outputs are then deduplicated against themselves and against the Parquet files already
written for the same days, and written per day (`writer.py`). Statuses never go back into a
DuckDB table: DuckDB names the rows to drop (`status_drops.sql`) and each day's file is a
filter of the Arrow rows, written by two threads.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .config import MAX_EVENT_SECONDS, MIN_EVENT_SECONDS, LandingConfig
from .lines import frame_lines, splice_offset
from .schema import LINE_COLUMNS, OTHER_STRUCTURE, STATUS_ROWS_SCHEMA
from .sources import RejectedLine, SourceFile, StagedFile
from .sql import SqlLibrary
from .writer import existing_files, sentinel_file, write_days, write_partitions

__all__ = ["BAD_INPUT_ERRORS", "LandingEngine"]

logger = logging.getLogger(__name__)

# DuckDB errors that mean "this input does not fit", as opposed to a failure of the machine.
BAD_INPUT_ERRORS: tuple[type[Exception], ...] = (
    duckdb.InvalidInputException,
    duckdb.ConversionException,
    duckdb.OutOfRangeException,
)
_SMALL_TABLES = ("clicks", "preferences", "account_updates")
_ERROR_PLACE = re.compile(r'^.*?(in file "[^"]*"(, at byte \d+)?,? in line \d+:\s*)', re.DOTALL)
_QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source_file", pa.string()),
        pa.field("source_offset", pa.int64()),
        pa.field("raw_line", pa.binary()),
        pa.field("reason", pa.string()),
        pa.field("received_at", pa.timestamp("us", tz="UTC")),
    ]
)


def _duckdb_reason(exc: Exception) -> str:
    """DuckDB's message about one refused line, without the staging file's name."""
    text = str(exc).split("\n", 1)[0]
    text = _ERROR_PLACE.sub("", text, count=1)
    return f"refused by the schema: {text}"[:500]


# Arrow arrays are built here on numpy buffers: `pa.array` of Python values, `to_numpy` and
# the `value_set` of `is_in` each make pyarrow import pandas, half a second of a landing's time.


def _row_numbers(count: int) -> pa.Array:
    """0, 1, ..., count - 1 as Arrow int64."""
    numbers = np.arange(count, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), count, [None, pa.py_buffer(numbers)])


def _strings(values: list[str]) -> pa.Array:
    """Python strings as an Arrow string array."""
    encoded = [value.encode() for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(value) for value in encoded], out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.string(), len(encoded), buffers)


def _all_but(count: int, dropped: pa.ChunkedArray) -> pa.BooleanArray:
    """`count` flags, False at the positions listed in `dropped` (int64), True elsewhere."""
    keep = np.ones(count, dtype=bool)
    for chunk in dropped.chunks:
        keep[np.frombuffer(chunk.buffers()[1], np.int64, len(chunk), chunk.offset * 8)] = False
    bits = pa.py_buffer(np.packbits(keep, bitorder="little"))
    return pa.BooleanArray.from_buffers(pa.bool_(), count, [None, bits])


class LandingEngine:
    """A DuckDB connection that lands batches of staged files.

    Attributes:
        config: The run's configuration.
        events_dir: `out/events`.
        run_id: Names the output files of the run.
        started_at: When the run started (the quarantine's `quarantined_at`).
    """

    def __init__(
        self,
        config: LandingConfig,
        *,
        events_dir: Path,
        staging_dir: Path,
        run_id: str,
        started_at: datetime,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.events_dir = events_dir
        self.run_id = run_id
        self.started_at = started_at
        self._staging = staging_dir
        self._progress = progress or logger.info
        self._sql = SqlLibrary()
        settings: dict[str, Any] = {
            "memory_limit": config.memory_limit,
            "temp_directory": str(staging_dir / "duckdb"),
            "preserve_insertion_order": False,
        }
        if config.threads is not None:
            settings["threads"] = config.threads
        self.con = duckdb.connect(":memory:", config=settings)
        # Timestamps are written and formatted in UTC whatever the machine's zone.
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")
        self._files: list[tuple[int, str, str]] = []
        self._next_id = 0
        self._rejected: list[RejectedLine] = []
        self._problem_lines: dict[tuple[int, int], bytes] = {}
        self._careful_count = 0
        # The batch's status rows, one Arrow table per read (see `_register_status_rows`).
        self._status_parts: list[pa.Table] = []
        self._days: dict[str, pa.Array] = {}
        self.timings: Counter[str] = Counter()
        self._params = {
            "max_line_bytes": config.max_line_bytes,
            "min_seconds": MIN_EVENT_SECONDS,
            "max_seconds": MAX_EVENT_SECONDS,
        }

    def close(self) -> None:
        """Close the DuckDB connection."""
        self.con.close()

    @contextmanager
    def _timed(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[step] += time.perf_counter() - started

    def new_file_id(self) -> int:
        """A file number not used before in this run."""
        self._next_id += 1
        return self._next_id

    # One batch.

    def land_batch(
        self, staged: list[StagedFile], rejected: list[RejectedLine], batch: int
    ) -> dict[str, int]:
        """Land staged files: read, check, deduplicate, write; returns counts.

        Args:
            staged: The batch's files.
            rejected: Lines refused while staging (quarantined with the batch).
            batch: Number of the batch in the run (names the output files).

        Returns:
            Counts: events read per kind, rows landed per table, lines quarantined, ...
        """
        con = self.con
        con.execute(self._sql["other_rows_table"])
        con.execute(self._sql["batch_files_table"])
        self._files = []
        self._rejected = list(rejected)
        self._problem_lines = {}
        self._careful_count = 0
        self._status_parts = []
        for item in staged:
            self._register(item.file_id, str(item.path), item.source.uri)

        try:
            with self._timed("read"):
                self._read_fast(staged)
                staged = self._reread_grown(staged)
            with self._timed("careful"):
                self._register_status_rows()
                problems = [row[0] for row in con.execute(self._sql["problem_files"]).fetchall()]
                if problems:
                    by_id = {item.file_id: item for item in staged}
                    for file_id in problems:
                        uri = by_id[file_id].source.uri
                        self._progress(f"{uri}: read line by line (a line breaks a rule)")
                    self._drop_files(problems)
                    for file_id in problems:
                        self._read_careful(by_id[file_id])
                status_rows = self._register_status_rows()
                con.execute(self._sql["line_problems"])
            self._find_touched_days()
            result = con.execute(self._sql["batch_counts"])
            names = [column[0] for column in result.description or []]
            counts: dict[str, int] = dict(zip(names, result.fetchall()[0], strict=True))
            name = f"part-{self.run_id}-{batch:04d}.parquet"
            counts["statuses"] = self._write_statuses(status_rows, name)
        finally:
            self._status_parts = []
            con.unregister("status_rows")
        for table in _SMALL_TABLES:
            counts[table] = self._write_table(table, name)
        with self._timed("quarantine"):
            counts["quarantined"] = self._write_quarantine(name)
        counts["careful_files"] = self._careful_count
        return counts

    def _register(self, file_id: int, path: str, source: str) -> None:
        self._files.append((file_id, path, source))
        params = {"file_id": file_id, "path": path, "source": source}
        self.con.execute(self._sql["batch_files_insert"], params)

    # Reading.

    def _read(self, paths: list[str]) -> None:
        """Read `paths` once (`status_rows.sql`; `other_rows.sql` on its markers), all or nothing.

        The status rows are kept only once the other rows are in too; a failed statement
        leaves `other_rows` as it was.
        """
        ids = {path: (index, file_id) for index, (file_id, path, _) in enumerate(self._files)}
        params = {**self._params, "paths": paths, "file_ids": [ids[path][1] for path in paths]}
        indexes = [ids[path][0] for path in paths]
        # Rows in read order (files, then lines): the deduplication keeps the first copy by it.
        self.con.execute("SET preserve_insertion_order = true")
        try:
            status = self.con.sql(
                self._sql["status_rows"],
                params={**params, "source_indexes": indexes, "columns": LINE_COLUMNS},
            ).to_arrow_table()
            # The marker rows: the changes with something besides statuses, as JSON.
            others = status.select(["file_id", "line_offset", "other_json"])
            others = others.filter(pc.is_valid(others.column("other_json")))
            if others.num_rows:
                self.con.register("other_changes", others)
                try:
                    self.con.execute(
                        self._sql["other_rows"],
                        {
                            "min_seconds": MIN_EVENT_SECONDS,
                            "max_seconds": MAX_EVENT_SECONDS,
                            "structure": OTHER_STRUCTURE,
                        },
                    )
                finally:
                    self.con.unregister("other_changes")
        finally:
            self.con.execute("SET preserve_insertion_order = false")
        self._status_parts.append(status.cast(STATUS_ROWS_SCHEMA))

    def _register_status_rows(self) -> pa.Table:
        """The status rows read so far, as DuckDB's view `status_rows`.

        `source_index` (the file's place in the batch's list) becomes `source_file`, a
        dictionary over the batch's source names: one string per file, not per row (DuckDB
        would copy the name into every row, and the Parquet writer would hash each copy).
        `row_id` is added: the read order.
        """
        rows = pa.Table.from_batches(
            [batch for part in self._status_parts for batch in part.to_batches()],
            schema=STATUS_ROWS_SCHEMA,
        )
        sources = _strings([source for _, _, source in self._files])
        indexes = rows.column("source_index").combine_chunks()
        rows = rows.drop_columns(["source_index"]).append_column(
            "source_file", pa.DictionaryArray.from_arrays(indexes, sources)
        )
        rows = rows.append_column("row_id", _row_numbers(rows.num_rows))
        self.con.register("status_rows", rows)
        return rows

    def _drop_files(self, file_ids: list[int]) -> None:
        """Forget what was read from some files (they are read again, another way)."""
        dropped = pa.array(file_ids, pa.int32())
        self._status_parts = [
            part.filter(pc.invert(pc.is_in(part.column("file_id"), value_set=dropped)))
            for part in self._status_parts
        ]
        self.con.execute(self._sql["other_rows_delete"], {"file_ids": file_ids})

    def _read_fast(self, staged: list[StagedFile]) -> None:
        if not staged:
            return
        try:
            self._read([str(item.path) for item in staged])
            return
        except BAD_INPUT_ERRORS as exc:
            if len(staged) == 1:
                reason = _duckdb_reason(exc).removeprefix("refused by the schema: ")
                self._progress(f"{staged[0].source.uri}: read line by line ({reason})")
                self._read_careful(staged[0])
                return
        for item in staged:
            self._read_fast([item])

    def _reread_grown(self, staged: list[StagedFile]) -> list[StagedFile]:
        """Files read in place that grew while DuckDB read them: read a fixed copy instead.

        DuckDB reads a whole file, so a line appended meanwhile (maybe half written) would be
        read beyond the offset the manifest records. Such files are read again from a copy
        of exactly the part staged; duplicates of what the first read saw cannot happen since
        its rows are dropped first.
        """
        grown = [
            item
            for item in staged
            if not item.temporary and item.path.stat().st_size != item.end_offset
        ]
        if not grown:
            return staged
        self._drop_files([item.file_id for item in grown])
        copies = {}
        for item in grown:
            file_id = self.new_file_id()
            path = self._staging / f"copy-{file_id:06d}.ndjson"
            with item.path.open("rb") as source, path.open("wb") as target:
                target.write(source.read(item.end_offset))
            copy = StagedFile(file_id, item.source, path, 0, item.end_offset)
            self._register(file_id, str(path), item.source.uri)
            copies[item.file_id] = copy
            logger.info(
                "%s grew while read; reading a copy of its first %d bytes",
                item.source.uri,
                item.end_offset,
            )
        self._read_fast(list(copies.values()))
        return [copies.get(item.file_id, item) for item in staged]

    def _read_careful(self, item: StagedFile) -> None:
        self._careful_count += 1
        source = item.source
        with item.path.open("rb") as handle:
            data = handle.read(item.end_offset - item.base_offset)
        lines = frame_lines(data, item.base_offset)
        if item.line_offsets is not None:
            lines = [
                (offset, line) for offset, (_, line) in zip(item.line_offsets, lines, strict=True)
            ]
        raw_lines = pa.table(
            {
                "line_offset": pa.array([offset for offset, _ in lines], pa.int64()),
                "line": pa.array([line for _, line in lines], pa.binary()),
            }
        )
        self.con.register("raw_lines", raw_lines)
        limit = {"max_line_bytes": self.config.max_line_bytes}
        reasons = dict(self.con.execute(self._sql["line_checks"], limit).fetchall())
        self.con.unregister("raw_lines")
        good = []
        for offset, line in lines:
            reason = reasons.get(offset)
            if reason is None:
                good.append((offset, line))
            else:
                self._rejected.append(RejectedLine(source.uri, offset, line, reason))
        file_ids: list[int] = []
        self._read_halving(source, good, file_ids)
        if file_ids:
            self._register_status_rows()
            rows = self.con.execute(self._sql["file_problems"], {"file_ids": file_ids}).fetchall()
            raw = dict(good)
            for file_id, offset in rows:
                self._problem_lines[(file_id, offset)] = raw[offset]

    def _read_halving(
        self, source: SourceFile, lines: list[tuple[int, bytes]], file_ids: list[int]
    ) -> None:
        """Read lines that carry their offsets; halve the set around lines DuckDB refuses."""
        if not lines:
            return
        file_id = self.new_file_id()
        path = self._staging / f"careful-{file_id:06d}.ndjson"
        path.write_bytes(b"\n".join(splice_offset(line, offset) for offset, line in lines) + b"\n")
        self._register(file_id, str(path), source.uri)
        try:
            self._read([str(path)])
        except BAD_INPUT_ERRORS as exc:
            if len(lines) == 1:
                offset, line = lines[0]
                self._rejected.append(RejectedLine(source.uri, offset, line, _duckdb_reason(exc)))
                return
            middle = len(lines) // 2
            self._read_halving(source, lines[:middle], file_ids)
            self._read_halving(source, lines[middle:], file_ids)
            return
        finally:
            path.unlink(missing_ok=True)
        file_ids.append(file_id)

    # Writing.

    def _find_touched_days(self) -> None:
        """The days each table's events of the batch fall on (`touched_days.sql`).

        Kept as Arrow dates: the statuses' day filters compare with them directly (a Python
        date would make pyarrow import pandas, half a second).
        """
        touched = self.con.sql(self._sql["touched_days"]).to_arrow_table()
        tables = touched.column("table_name").to_pylist()
        days = touched.column("dt").combine_chunks()
        # Rows come ordered by table, so each table's days are one slice.
        self._days = {
            table: days.slice(tables.index(table), tables.count(table)) for table in set(tables)
        }

    def _touched_days(self, table: str) -> list[date]:
        days = self._days.get(table)
        return [] if days is None else [day.as_py() for day in days]

    def _write_statuses(self, status_rows: pa.Table, name: str) -> int:
        """Statuses, the bulk: DuckDB names the rows to drop, each day's rows are gathered.

        Deduplication is settled first (`status_drops`); the kept rows of each day are then
        gathered from the Arrow rows and written, two files at a time (`write_days`).
        """
        table_dir = self.events_dir / "statuses"
        days = self._days.get("statuses")
        if days is None:
            return 0
        existing = [
            *existing_files(table_dir, [day.as_py().isoformat() for day in days]),
            sentinel_file(self.events_dir / "_landing" / "empty", "statuses"),
        ]
        with self._timed("query_statuses"):
            drops = self.con.sql(self._sql["status_drops"], params={"existing": existing})
            # row_id is the row's position in status_rows.
            keep = _all_but(status_rows.num_rows, drops.to_arrow_table().column("row_id"))
        with self._timed("write_statuses"):
            written = write_days(
                status_rows, keep, days, table_dir, "statuses", name, staging=self._staging
            )
        return sum(written.values())

    def _write_table(self, table: str, name: str) -> int:
        table_dir = self.events_dir / table
        days = [day.isoformat() for day in self._touched_days(table)]
        if not days:
            return 0
        existing = [
            *existing_files(table_dir, days),
            sentinel_file(self.events_dir / "_landing" / "empty", table),
        ]
        with self._timed(f"query_{table}"):
            data = self.con.sql(self._sql[table], params={"existing": existing}).to_arrow_table()
        with self._timed(f"write_{table}"):
            written = write_partitions(data, table_dir, table, name, staging=self._staging)
        return sum(written.values())

    def _write_quarantine(self, name: str) -> int:
        sources = {file_id: source for file_id, _, source in self._files}
        problems = self.con.execute(self._sql["problem_lines"]).fetchall()
        rows: list[dict[str, Any]] = [
            {
                "source_file": line.source_file,
                "source_offset": line.source_offset,
                "raw_line": line.raw_line,
                "reason": line.reason,
                "received_at": None,
            }
            for line in self._rejected
        ]
        for file_id, offset, reason, received_at in problems:
            rows.append(
                {
                    "source_file": sources[file_id],
                    "source_offset": offset,
                    "raw_line": self._problem_lines.get((file_id, offset), b""),
                    "reason": reason,
                    "received_at": received_at,
                }
            )
        if not rows:
            return 0
        self.con.register("quarantine_lines", pa.Table.from_pylist(rows, _QUARANTINE_SCHEMA))
        table_dir = self.events_dir / "quarantine"
        existing = [
            *existing_files(table_dir),
            sentinel_file(self.events_dir / "_landing" / "empty", "quarantine"),
        ]
        params = {"existing": existing, "quarantined_at": self.started_at, "run_id": self.run_id}
        data = self.con.sql(self._sql["quarantine"], params=params).to_arrow_table()
        self.con.unregister("quarantine_lines")
        written = write_partitions(data, table_dir, "quarantine", name, staging=self._staging)
        return sum(written.values())
