"""Where a segment is read from, as a stream of Arrow record batches.

- a DuckDB file (the default, `warehouse.duckdb`): opened read-only, `to_arrow_reader`.
- a Parquet or CSV `path`: DuckDB's `read_parquet` / `read_csv` (`sql/audience/`); a local
  path or an object store URL (`s3://bucket/segments/x.parquet`, read through fsspec).
- a SQLAlchemy URL (`postgresql://...`, `sqlite:///...`): a server-side cursor
  (`stream_results`), rows packed into Arrow batches.
- `block:<name>`: a Prefect SqlAlchemyConnector block; the Prefect task loads it and passes
  its engine (mmapi never imports Prefect).

Every reader holds one batch at a time, so memory stays flat whatever the segment's size.
Errors are one line, with any password replaced by `***`: an unreachable or unopenable
warehouse raises `WarehouseUnreachableError`, a failing query `ExtractError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from .. import storage
from ..campaign import SegmentSource
from ..errors import ExtractError, WarehouseUnreachableError
from ..sql import SQL_DIR, load_sql
from .settings import DUCKDB_MEMORY_LIMIT

__all__ = ["connection_kind", "mask_url", "open_batches", "segment_query"]

BLOCK_PREFIX = "block:"
_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
# psycopg (3) is the Postgres driver this project ships; SQLAlchemy's bare `postgresql://`
# would ask for psycopg2.
_DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def mask_url(url: str) -> str:
    """The connection string with its password replaced by `***` (safe to print or log).

    Example:
        >>> mask_url("postgresql://app:s3cret@db:5432/shop")
        'postgresql://app:***@db:5432/shop'
    """
    if "://" not in url:
        return url
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return _PASSWORD_IN_URL.sub(r"\1***@", url)


def connection_kind(connection: str) -> Literal["duckdb", "sqlalchemy", "block"]:
    """How a connection string is read: a DuckDB file, a SQLAlchemy URL, or a Prefect block.

    Example:
        >>> connection_kind("warehouse.duckdb"), connection_kind("sqlite:///x.db")
        ('duckdb', 'sqlalchemy')
    """
    if connection.startswith(BLOCK_PREFIX):
        return "block"
    return "sqlalchemy" if "://" in connection else "duckdb"


def segment_query(segment: SegmentSource) -> str | None:
    """The segment's SQL (from `sql_file` under `sql/`, or inline), None for a file segment.

    Raises:
        ExtractError: the SQL file does not exist.
    """
    if segment.query:
        return segment.query
    if segment.sql_file:
        path = Path(segment.sql_file)
        path = path if path.is_absolute() else SQL_DIR / path
        if not path.is_file():
            raise ExtractError(f"segment SQL file {path} not found")
        return path.read_text(encoding="utf-8")
    return None


def _one_line(error: BaseException, secrets: list[str]) -> str:
    """The first line of an error's text, with every secret masked."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    for secret in secrets:
        line = line.replace(secret, "***")
    return _PASSWORD_IN_URL.sub(r"\1***@", line)


@contextmanager
def _duckdb_batches(
    query: str | None, path: str | None, database: str, batch_rows: int
) -> Iterator[pa.RecordBatchReader]:
    if path is not None:
        database = ":memory:"
        if not any(ch in path for ch in "*?[") and not storage.is_file(path):
            raise ExtractError(f"segment file {path} not found")
        is_csv = path.lower().endswith((".csv", ".csv.gz"))
        # CSV has no types: read every column as text, so '0151...' keeps its 0 and a coupon
        # '00123' stays a string; template checks parse numbers where they need them.
        query = load_sql("audience/read_csv" if is_csv else "audience/read_parquet")
        params: dict[str, Any] | None = {"path": path}
    else:
        params = None
        if database != ":memory:" and not Path(database).is_file():
            raise WarehouseUnreachableError(f"warehouse file {database} not found")
    try:
        connection = duckdb.connect(
            database,
            read_only=database != ":memory:",
            config={"memory_limit": DUCKDB_MEMORY_LIMIT},
        )
    except duckdb.Error as exc:
        raise WarehouseUnreachableError(
            f"cannot open warehouse file {database}: {_one_line(exc, [])}"
        ) from None
    try:
        if path is not None:  # an s3:// file is read through fsspec (mmapi.storage)
            storage.register_on(connection, [path])
        try:
            reader = connection.sql(query, params=params).to_arrow_reader(batch_rows)
        except duckdb.Error as exc:
            where = path or database
            raise ExtractError(f"segment query failed on {where}: {_one_line(exc, [])}") from None
        yield pa.RecordBatchReader.from_batches(
            reader.schema, _duckdb_guarded(reader, path or database)
        )
    finally:
        connection.close()


def _duckdb_guarded(reader: pa.RecordBatchReader, where: str) -> Iterator[pa.RecordBatch]:
    """Errors in the middle of the stream (a failing cast, a lost file) become ExtractErrors."""
    try:
        yield from reader
    except (duckdb.Error, pa.ArrowException, OSError) as exc:
        raise ExtractError(
            f"reading the segment from {where} failed: {_one_line(exc, [])}"
        ) from None


def _column(values: tuple[Any, ...], kind: pa.DataType | None, name: str) -> pa.Array:
    """One column of a batch, inferred from the first batch and held to that type after."""
    if kind is None:
        try:
            array = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            array = pa.array([None if v is None else str(v) for v in values], pa.string())
        if pa.types.is_null(array.type):  # all null in the first batch: text, the safe guess
            return pa.nulls(len(values), pa.string())
        if pa.types.is_decimal(array.type):  # later rows may need more digits than the first
            return array.cast(pa.decimal128(38, array.type.scale))
        return array
    try:
        return pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    try:  # a safe cast only: never truncate a value to keep the first batch's type
        return pa.array(values).cast(kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        pass
    if pa.types.is_string(kind):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    raise ExtractError(f"column {name!r} changes type between rows (first read as {kind})")


def _rows_to_batches(
    result: sa.CursorResult, batch_rows: int
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    names = list(result.keys())
    partitions = result.partitions(batch_rows)
    first_rows = next(partitions, [])
    first = pa.RecordBatch.from_arrays(
        [
            _column(values, None, name)
            for name, values in zip(names, _transpose(first_rows, names), strict=True)
        ],
        names=names,
    )
    schema = first.schema

    def rest() -> Iterator[pa.RecordBatch]:
        for rows in partitions:
            columns = _transpose(rows, names)
            arrays = [_column(v, f.type, f.name) for f, v in zip(schema, columns, strict=True)]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    return schema, chain([first] if first.num_rows else [], rest())


def _transpose(rows: list[Any], names: list[str]) -> list[tuple[Any, ...]]:
    return list(zip(*rows, strict=True)) if rows else [() for _ in names]


def _sqlalchemy_url(connection: str) -> sa.URL:
    try:
        url = sa.make_url(connection)
    except sa.exc.ArgumentError:
        raise ExtractError(f"not a valid connection URL: {mask_url(connection)}") from None
    if url.drivername in _DEFAULT_DRIVERS:
        url = url.set(drivername=_DEFAULT_DRIVERS[url.drivername])
    return url


@contextmanager
def _sqlalchemy_batches(
    query: str, connection: str, engine: Engine | None, batch_rows: int
) -> Iterator[pa.RecordBatchReader]:
    own_engine = engine is None
    if engine is None:
        url = _sqlalchemy_url(connection)
        try:
            engine = sa.create_engine(url, poolclass=NullPool)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
            reason = _one_line(exc, [url.password or ""] if url.password else [])
            raise ExtractError(f"cannot use connection {mask_url(connection)}: {reason}") from None
    secrets = [str(engine.url.password)] if engine.url.password else []
    shown = engine.url.render_as_string(hide_password=True)
    try:
        try:
            conn = engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            raise WarehouseUnreachableError(
                f"cannot connect to the warehouse {shown}: {_one_line(exc, secrets)}"
            ) from None
        try:
            streaming = conn.execution_options(stream_results=True, max_row_buffer=batch_rows)
            try:
                result = streaming.execute(sa.text(query))
                schema, batches = _rows_to_batches(result, batch_rows)
            except sa.exc.SQLAlchemyError as exc:
                reason = _one_line(exc, secrets)
                raise ExtractError(f"segment query failed on {shown}: {reason}") from None
            yield pa.RecordBatchReader.from_batches(schema, _guarded(batches, shown, secrets))
        finally:
            conn.close()
    finally:
        if own_engine:
            engine.dispose()


def _guarded(
    batches: Iterator[pa.RecordBatch], shown: str, secrets: list[str]
) -> Iterator[pa.RecordBatch]:
    """Fetch errors in the middle of the stream become one-line ExtractErrors too."""
    try:
        yield from batches
    except sa.exc.SQLAlchemyError as exc:
        raise ExtractError(
            f"reading the segment from {shown} failed: {_one_line(exc, secrets)}"
        ) from None


@contextmanager
def open_batches(
    *,
    query: str | None,
    path: str | None,
    connection: str,
    engine: Engine | None = None,
    batch_rows: int,
) -> Iterator[pa.RecordBatchReader]:
    """Stream the result of `query` on `connection` (or the file at `path`) as Arrow batches.

    Args:
        query: SQL to run; None when reading `path`.
        path: A Parquet or CSV file (read with DuckDB); None when running `query`.
        connection: DuckDB file, SQLAlchemy URL, or `block:<name>` (then `engine` is required).
        engine: A SQLAlchemy engine to use instead of building one from `connection`.
        batch_rows: Rows per record batch.

    Yields:
        A `pyarrow.RecordBatchReader`; the connection closes when the block ends.

    Raises:
        WarehouseUnreachableError: the warehouse cannot be reached or opened.
        ExtractError: the query or file cannot be read.
    """
    kind = "sqlalchemy" if engine is not None else connection_kind(connection)
    if path is not None or kind == "duckdb":
        with _duckdb_batches(query, path, connection, batch_rows) as reader:
            yield reader
        return
    if kind == "block":
        raise ExtractError(
            f"{connection}: a Prefect block is loaded by the Prefect task (tasks/extract.py), "
            "which passes its engine; mmapi cannot load blocks"
        )
    assert query is not None
    with _sqlalchemy_batches(query, connection, engine, batch_rows) as reader:
        yield reader
