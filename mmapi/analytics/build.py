"""Build `analytics.duckdb` from sends, landed events and a rate card, and export its tables.

The SQL files in `sql/` run in the order of `TABLES`, each a `CREATE OR REPLACE TABLE` (or VIEW,
for `VIEWS`) over the input views (see `mmapi.analytics.inputs`) and the tables before it, with
its values bound as parameters (a few columns of `message_status` are stored with a compression
chosen here, see `_COLUMN_COMPRESSION`). The database is written to a temporary file beside the
target and renamed into place, so an analyst holding the old file open keeps reading the old one
undisturbed; each table is also exported as `tables/<name>.parquet`, written and renamed the
same way. The exports run on a second connection in a worker thread: the per-message
`message_status`, most of the export's work, as soon as it is made, so that it overlaps with the
tables built from it, and the others once they are all made.

Money is summed as DECIMAL and the default "as of" time comes from the data, so building twice
from the same inputs gives identical tables; every table but the per-message `message_status`
is also in the same row order (sorting millions of rows would cost more than it helps).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from .. import storage
from ..sql import load_sql
from .inputs import InputFiles, events_root, register_inputs
from .rates import DEFAULT_RATE_CARD_PATH, load_rate_card
from .stats import DEFAULT_CONFIDENCE, DEFAULT_MIN_ARM_SIZE, register_two_proportion_test
from .summary import ReportSummary, read_summary

__all__ = [
    "DATABASE_NAME",
    "DEFAULT_ATTRIBUTION_DAYS",
    "DEFAULT_CURVE_HOURS",
    "DEFAULT_NO_WEBHOOK_AFTER_HOURS",
    "EXPORTED_TABLES",
    "TABLES",
    "TABLES_FOLDER",
    "VIEWS",
    "AnalyticsBuild",
    "ReportSettings",
    "build_analytics",
    "create_tables",
]

DATABASE_NAME = "analytics.duckdb"
TABLES_FOLDER = "tables"
# Meta reports clicks only for sends up to 7 days old; stops are attributed in the same window.
DEFAULT_ATTRIBUTION_DAYS = 7
DEFAULT_NO_WEBHOOK_AFTER_HOURS = 24.0
# Meta's guidance measures over 4-7 days: the curve covers a week.
DEFAULT_CURVE_HOURS = 168

# The SQL files, in the order they run (each may read the tables before it).
TABLES = (
    "message_status",
    "message_counts",
    "click_attribution",
    "preference_attribution",
    "funnel",
    "funnel_by_template",
    "funnel_by_country",
    "failure_reasons",
    "delivery_curve",
    "message_cost",
    "rate_gaps",
    "cost_by_arm",
    "cost_comparison",
    "reconciliation",
    "unknown_wamids",
    "missing_webhooks",
    "report_parameters",
)
# Views: computed when read (message_cost would repeat every billable message).
VIEWS = ("message_cost",)
# Exported as soon as it is made, while the tables after it are built (see the module docstring).
_EXPORTED_EARLY = "message_status"
# `rate_card` is loaded from the CSV by Python; it is kept so every cost can be traced to a rate.
EXPORTED_TABLES = (*(name for name in TABLES if name not in VIEWS), "rate_card")
_INPUT_VIEWS = ("sends", "statuses", "clicks", "preferences")
# Columns stored with a compression of our choosing instead of DuckDB's. Every value of these
# is different: DuckDB picks DICT_FSST for them, whose dictionary finds nothing to share, while
# ZSTD writes them in less CPU (a median 0.6 s of the build's 11.5 at 2M messages and 10M
# events) and the file stays the same size (measured, DuckDB 2.0).
_COLUMN_COMPRESSION = {
    "message_status": {"message_key": "zstd", "wamid": "zstd", "recipient": "zstd"},
}
_MARKER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_COMMENT = re.compile(r"--[^\n]*")


class ReportSettings(BaseModel):
    """How the report judges time and significance; passed keyword-only.

    Attributes:
        as_of: The time the report is as of (TTL expiry, overdue webhooks); the latest time in
            the inputs when None, so re-runs agree.
        attribution_days: Window for attributing clicks and stop/resume events to a send.
        no_webhook_after_hours: A message without any status webhook this long after its send
            is listed in `missing_webhooks`.
        curve_hours: Hours covered by `delivery_curve`.
        min_arm_size: Arms smaller than this make the MM-versus-Cloud verdict `inconclusive`.
        confidence: Confidence level of the intervals.
        threads: DuckDB threads (None = all cores).

    Example:
        >>> ReportSettings(no_webhook_after_hours=48).min_arm_size
        100000
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: datetime | None = Field(default=None, description="The time the report is as of.")
    attribution_days: int = Field(
        default=DEFAULT_ATTRIBUTION_DAYS, ge=1, description="Click and stop attribution window."
    )
    no_webhook_after_hours: float = Field(
        default=DEFAULT_NO_WEBHOOK_AFTER_HOURS, gt=0, description="Overdue webhook threshold."
    )
    curve_hours: int = Field(
        default=DEFAULT_CURVE_HOURS, ge=1, le=24 * 90, description="Hours of the delivery curve."
    )
    min_arm_size: int = Field(
        default=DEFAULT_MIN_ARM_SIZE, ge=1, description="Smallest arm for a conclusive verdict."
    )
    confidence: float = Field(
        default=DEFAULT_CONFIDENCE, gt=0, lt=1, description="Confidence of the intervals."
    )
    threads: int | None = Field(default=None, ge=1, description="DuckDB threads.")


@dataclass(slots=True)
class AnalyticsBuild:
    """What `build_analytics` wrote.

    Attributes:
        database: The `analytics.duckdb` file.
        tables: Exported Parquet file per table name.
        row_counts: Rows per table.
        as_of: The time the report is as of.
        files: The input files read.
        rate_card: The rate card CSV used (a path or a URL).
        summary: The key tables, read before the file was renamed into place (so a reader
            holding the old file open in this process cannot be read by mistake).
        step_seconds: Wall seconds per step, in order: `inputs` (views, rate card, "as of"),
            each SQL file, `summary` (row counts and the summary), `on_summary`, `exports`
            (waiting for the Parquet files still being written) and `checkpoint`.
    """

    database: Path
    tables: dict[str, Path]
    row_counts: dict[str, int]
    as_of: datetime
    files: InputFiles
    rate_card: str | Path
    summary: ReportSummary
    step_seconds: dict[str, float]


class _Steps:
    """Wall seconds per step: each `done(name)` closes the step that began at the last one."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds
        self._started = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._started, 3)
        self._started = now


def _parameters(sql: str, values: dict[str, Any]) -> dict[str, Any]:
    """The values a SQL text's `$name` markers ask for (comments are not read)."""
    names = set(_MARKER.findall(_COMMENT.sub("", sql)))
    missing = names - values.keys()
    if missing:
        raise KeyError(f"no value for SQL parameter(s) {', '.join(sorted(missing))}")
    return {name: values[name] for name in names}


def _quarantined(events: str | Path) -> int:
    root = events_root(events)
    if isinstance(root, str):
        fs, path = storage.filesystem(storage.join(root, "quarantine"))
        files = [p for p in fs.find(path) if p.endswith(".parquet") and "/." not in p]
        # Parquet footers hold the row counts: only they are read.
        return sum(pq.ParquetFile(p, filesystem=fs).metadata.num_rows for p in sorted(files))
    files = [p for p in (root / "quarantine").rglob("*.parquet") if not p.name.startswith(".")]
    return sum(pq.ParquetFile(path).metadata.num_rows for path in sorted(files))


def _as_of(con: duckdb.DuckDBPyConnection, settings: ReportSettings) -> datetime:
    if settings.as_of is not None:
        given = settings.as_of
        return given.replace(tzinfo=UTC) if given.tzinfo is None else given.astimezone(UTC)
    # fetchall, not fetchone: a result left open would hold the connection (DuckDB 2.0 streams).
    found = con.execute(load_sql("report_as_of")).fetchall()[0][0]
    # No timestamp at all means no data: any time will do, and the epoch is reproducible.
    return found.astimezone(UTC) if found is not None else datetime(1970, 1, 1, tzinfo=UTC)


def _create_compressed(
    con: duckdb.DuckDBPyConnection,
    name: str,
    sql: str,
    parameters: dict[str, Any],
    compression: dict[str, str],
) -> None:
    """Run a `CREATE OR REPLACE TABLE <name> AS <query>` file with some columns' compression
    chosen: DuckDB cannot name it in CREATE TABLE AS, so the table is declared with the
    query's own column types first, then filled from the query.
    """
    head = re.search(rf"^CREATE OR REPLACE TABLE {name} AS\s*$", sql, re.M)
    if head is None:
        raise ValueError(f"{name}.sql is not a CREATE OR REPLACE TABLE {name} AS <query>")
    query = sql[head.end() :]
    declared = []
    for column, kind, *_ in con.execute(f"DESCRIBE {query}", parameters).fetchall():
        using = f" USING COMPRESSION {compression[column]}" if column in compression else ""
        declared.append(f'"{column}" {kind}{using}')
    columns = ", ".join(declared)
    con.execute(f"CREATE OR REPLACE TABLE {name} ({columns})")
    con.execute(f"INSERT INTO {name} {query}", parameters).fetchall()


def _export_table(con: duckdb.DuckDBPyConnection, name: str, folder: Path) -> Path:
    """Write one table to `folder/<name>.parquet` (temporary file, then rename)."""
    target = folder / f"{name}.parquet"
    temporary = folder / f".{name}.{uuid.uuid4().hex}.tmp"
    try:
        con.table(name).write_parquet(str(temporary))
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def create_tables(
    con: duckdb.DuckDBPyConnection,
    sends: str | Path,
    events: str | Path,
    *,
    rate_card: str | Path | None = None,
    card: pa.Table | None = None,
    settings: ReportSettings | None = None,
    tables: tuple[str, ...] = TABLES,
    on_table: Callable[[str], None] | None = None,
    step_seconds: dict[str, float] | None = None,
) -> tuple[datetime, InputFiles]:
    """Run the report's SQL on an open connection (a file or `:memory:`), leaving the input
    views in place.

    Args:
        con: The connection; its TimeZone is set to UTC.
        sends: A sends Parquet file, a folder of them, or a glob.
        events: The landing folder.
        rate_card: Rate card CSV (a path or `s3://`); the bundled example when None.
        card: The rate card already read from `rate_card` (`load_rate_card`); read here when
            None.
        settings: Time and significance settings; the defaults when None.
        tables: The SQL files to run, in order (a prefix of `TABLES` for part of the report).
        on_table: Called with each table's name once it is made (and committed).
        step_seconds: Filled, when given, with wall seconds per step: `inputs` (the views,
            the rate card and the "as of" time), then each SQL file (before its `on_table`).

    Returns:
        The "as of" time used and the input files read.

    Raises:
        FileNotFoundError: no sends file, no events folder, or no rate card.
        ValueError: a bad rate card.
    """
    settings = settings or ReportSettings()
    steps = _Steps(step_seconds if step_seconds is not None else {})
    card_path = rate_card if rate_card is not None else DEFAULT_RATE_CARD_PATH
    if card is None:
        card = load_rate_card(card_path)
    # Naive timestamps are read, and hours and days counted, in UTC.
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    files = register_inputs(con, sends, events)
    con.from_arrow(card).create("rate_card")
    register_two_proportion_test(con)
    as_of = _as_of(con, settings)
    values: dict[str, Any] = {
        "as_of": as_of,
        "attribution_days": settings.attribution_days,
        "no_webhook_after_hours": settings.no_webhook_after_hours,
        "curve_hours": settings.curve_hours,
        "min_arm_size": settings.min_arm_size,
        "confidence": settings.confidence,
        "rate_card": str(card_path),
        "sends_files": len(files.sends),
        "status_files": len(files.events["statuses"]),
        "click_files": len(files.events["clicks"]),
        "preference_files": len(files.events["preferences"]),
        "quarantined_events": _quarantined(events),
    }
    steps.done("inputs")
    for name in tables:
        sql = load_sql(name)
        if name in _COLUMN_COMPRESSION:
            _create_compressed(con, name, sql, _parameters(sql, values), _COLUMN_COMPRESSION[name])
        else:
            con.execute(sql, _parameters(sql, values)).fetchall()
        steps.done(name)
        if on_table is not None:
            on_table(name)
    return as_of, files


def build_analytics(
    sends: str | Path,
    events: str | Path,
    out: str | Path,
    *,
    rate_card: str | Path | None = None,
    settings: ReportSettings | None = None,
    on_summary: Callable[[ReportSummary], None] | None = None,
) -> AnalyticsBuild:
    """Build `out/analytics.duckdb` and `out/tables/*.parquet` from the inputs.

    Args:
        sends: A sends Parquet file (the ledger export), a folder of them, or a glob; local
            or on an object store (`s3://...`).
        events: The landing folder (`DIR` with `events/<kind>/dt=.../*.parquet`), or a URL.
        out: Output folder (created if missing), or an object store URL: the files are then
            built in its local working folder (`mmapi.storage.working_folder`; the returned
            paths are there) and each is uploaded as one object.
        rate_card: Rate card CSV (a path or `s3://`); the bundled example when None.
        settings: Time and significance settings; the defaults when None.
        on_summary: Called with the summary while the Parquet files are still being written
            (the report draws its charts meanwhile); its errors stop the build.

    Returns:
        Paths, row counts, the "as of" time used and the summary.

    Raises:
        FileNotFoundError: no sends file, no events folder, or no rate card.
        ValueError: a bad rate card.

    Example:
        >>> build = build_analytics("sends.parquet", "landing", "report")  # doctest: +SKIP
        >>> build.row_counts["funnel"]  # doctest: +SKIP
        2
    """
    settings = settings or ReportSettings()
    card_path = rate_card if rate_card is not None else DEFAULT_RATE_CARD_PATH
    card = load_rate_card(card_path)  # a bad card fails before any file is written
    # An object store output is built in its local working folder, then uploaded.
    folder = storage.working_folder(out)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / DATABASE_NAME
    temporary = folder / f".{DATABASE_NAME}.{uuid.uuid4().hex}.tmp"
    config: dict[str, Any] = {}
    if settings.threads is not None:
        config["threads"] = settings.threads
    tables_folder = folder / TABLES_FOLDER
    tables_folder.mkdir(parents=True, exist_ok=True)
    step_seconds: dict[str, float] = {}
    try:
        con = duckdb.connect(str(temporary), config=config)
        try:
            # The exports read on a connection of their own, in one worker thread: they overlap
            # with the SQL still running here (and with on_summary).
            reader = con.cursor()
            with ThreadPoolExecutor(max_workers=1) as pool:
                exports: dict[str, Future[Path]] = {}

                def export(name: str) -> None:
                    exports[name] = pool.submit(_export_table, reader, name, tables_folder)

                as_of, files = create_tables(
                    con,
                    sends,
                    events,
                    rate_card=card_path,
                    card=card,
                    settings=settings,
                    on_table=lambda name: export(name) if name == _EXPORTED_EARLY else None,
                    step_seconds=step_seconds,
                )
                steps = _Steps(step_seconds)
                # The input views name files on this machine: they stay out of the analysts' file.
                for view in _INPUT_VIEWS:
                    con.execute(f"DROP VIEW {view}")
                for name in EXPORTED_TABLES:
                    if name not in exports:
                        export(name)
                counts = {
                    name: con.table(name).count("*").fetchall()[0][0] for name in EXPORTED_TABLES
                }
                summary = read_summary(con)
                steps.done("summary")
                if on_summary is not None:
                    on_summary(summary)
                    steps.done("on_summary")
                exported = {name: exports[name].result() for name in EXPORTED_TABLES}
                steps.done("exports")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(temporary, target)
        steps.done("checkpoint")
    finally:
        temporary.unlink(missing_ok=True)
        Path(f"{temporary}.wal").unlink(missing_ok=True)
    if storage.is_url(out):
        # One object each, the tables first: the database names the build as done.
        for name, path in exported.items():
            storage.upload(path, str(storage.join(out, TABLES_FOLDER, f"{name}.parquet")))
        storage.upload(target, str(storage.join(out, DATABASE_NAME)))
    return AnalyticsBuild(
        database=target,
        tables=exported,
        row_counts=counts,
        as_of=as_of,
        files=files,
        rate_card=card_path,
        summary=summary,
        step_seconds=step_seconds,
    )
