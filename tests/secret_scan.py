"""Find known secrets in everything a run produced: files, logs, exceptions, Prefect's records.

A test gives the run distinctive secrets (an API key, a webhook secret, a database password),
then hands everything the run left behind to one `SecretScanner` and expects no hit:

    scanner = SecretScanner({"api_key": key, "db_password": password})
    hits = scanner.scan_tree(out_dir)                      # every file below, by kind
    hits += scanner.scan_text("demo stderr", result.stderr)
    hits += scanner.scan_exception("extract error", error)
    hits += scanner.scan_sqlite(prefect_home / "prefect.db")  # a stopped Prefect server
    hits += scanner.scan_store(bucket_objects, scratch)      # an object store's objects
    hits += await scanner.scan_prefect(client)               # or a running one, via its API
    assert not hits, format_hits(hits)

Each secret is looked for as written, percent-encoded (as in a URL) and JSON-escaped. Files
are read by kind: Parquet (every value of every column, and the file's metadata), DuckDB
(every table and view of every schema, and their SQL), SQLite (every value of every table),
`.gz` (decompressed), anything else byte for byte (HTML, JSON, NDJSON, YAML, CSV, logs); the
objects of an object store the same way, by their key.
Through the Prefect API it reads logs, artifacts, flow runs (parameters and states), task
runs and variables. A hit names where and which secret, never the secret's value. Every
scanner first checks that it finds its own secrets in a planted text, so it cannot pass by
finding nothing.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

__all__ = ["MIN_SECRET_CHARS", "Hit", "SecretScanner", "format_hits"]

# Shorter values would match by chance (and are not secrets worth the name).
MIN_SECRET_CHARS = 12
PAGE = 200


@dataclass(frozen=True)
class Hit:
    """One place a secret was found.

    Attributes:
        where: The file (and table, column) or record it was found in.
        secret: The secret's name (never its value).
    """

    where: str
    secret: str


def format_hits(hits: Iterable[Hit]) -> str:
    """One line per hit, for an assertion message."""
    return "\n".join(f"{hit.secret} in {hit.where}" for hit in hits)


class SecretScanner:
    """Looks for a fixed set of named secrets in texts, files, trees and Prefect's records.

    Args:
        secrets: Name -> value; each value at least `MIN_SECRET_CHARS` long.
    """

    def __init__(self, secrets: Mapping[str, str]) -> None:
        short = [name for name, value in secrets.items() if len(value) < MIN_SECRET_CHARS]
        if short:
            raise ValueError(f"secrets shorter than {MIN_SECRET_CHARS} characters: {short}")
        self.secrets = dict(secrets)
        self._forms = {
            name: sorted({value, quote(value, safe=""), json.dumps(value)[1:-1]})
            for name, value in self.secrets.items()
        }
        self._byte_forms = {
            name: [form.encode("utf-8") for form in forms] for name, forms in self._forms.items()
        }
        # The scanner must see what it is looking for; else every scan would pass.
        planted = "x".join(f"<{quote(value, safe='')}>" for value in self.secrets.values())
        assert {hit.secret for hit in self.scan_text("self-check", planted)} == set(self.secrets)

    # -- texts -----------------------------------------------------------------------------

    def scan_text(self, where: str, text: str) -> list[Hit]:
        """Hits in one text (a log, a captured output, an exception's message)."""
        return [
            Hit(where, name)
            for name, forms in self._forms.items()
            if any(form in text for form in forms)
        ]

    def scan_bytes(self, where: str, data: bytes) -> list[Hit]:
        """Hits in raw bytes (a file as stored)."""
        return [
            Hit(where, name)
            for name, forms in self._byte_forms.items()
            if any(form in data for form in forms)
        ]

    def scan_exception(self, where: str, error: BaseException) -> list[Hit]:
        """Hits in an exception's message, repr, arguments and chained causes, as printed."""
        printed = "".join(traceback.format_exception(error))
        return self.scan_text(where, f"{printed}\n{error!r}\n{error.args!r}")

    # -- files -----------------------------------------------------------------------------

    def scan_tree(self, root: Path, *, skip: Iterable[Path] = ()) -> list[Hit]:
        """Hits in every file below `root` (but `skip`: inputs a person wrote, say)."""
        skipped = {Path(path).resolve() for path in skip}
        hits: list[Hit] = []
        for path in sorted(Path(root).rglob("*")):
            if path.is_file() and path.resolve() not in skipped:
                hits += self.scan_file(path)
        return hits

    def scan_store(self, objects: Mapping[str, bytes], scratch: Path) -> list[Hit]:
        """Hits in the objects of an object store (key -> bytes), each read by its kind.

        Each object is written under `scratch` (so DuckDB and SQLite files can be opened)
        and named by its key in the hits.
        """
        hits: list[Hit] = []
        for key, data in sorted(objects.items()):
            path = scratch / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            hits += [Hit(f"object {key}: {hit.where}", hit.secret) for hit in self.scan_file(path)]
        return hits

    def scan_file(self, path: Path) -> list[Hit]:
        """Hits in one file, read according to its kind (see the module docstring)."""
        name = path.name.lower()
        hits = self.scan_bytes(str(path), path.read_bytes())
        if name.endswith(".parquet"):
            hits += self.scan_parquet(path)
        elif name.endswith(".duckdb"):
            hits += self.scan_duckdb(path)
        elif name.endswith((".sqlite", ".db")) and _is_sqlite(path):
            hits += self.scan_sqlite(path)
        elif name.endswith(".gz"):
            hits += self.scan_bytes(f"{path} (unpacked)", gzip.decompress(path.read_bytes()))
        return hits

    def scan_arrow(self, where: str, table: pa.Table) -> list[Hit]:
        """Hits in every text-like value of an Arrow table, column by column."""
        hits: list[Hit] = []
        for field, column in zip(table.schema, table.columns, strict=True):
            texts = _as_text(column, field.type)
            if texts is None:
                continue
            for name, forms in self._forms.items():
                if any(pc.any(pc.match_substring(texts, form)).as_py() for form in forms):
                    hits.append(Hit(f"{where} column {field.name}", name))
        return hits

    def scan_parquet(self, path: Path) -> list[Hit]:
        """Hits in a Parquet file's values and key-value metadata."""
        hits = self.scan_arrow(str(path), pq.read_table(path))
        metadata = pq.read_metadata(path).metadata or {}
        for key, value in metadata.items():
            hits += self.scan_bytes(f"{path} metadata {key.decode(errors='replace')}", value)
        return hits

    def scan_duckdb(self, path: Path) -> list[Hit]:
        """Hits in every table and view of a DuckDB file, and in their SQL."""
        hits: list[Hit] = []
        with duckdb.connect(str(path), read_only=True) as connection:
            objects = connection.sql(
                "SELECT schema_name, table_name, sql FROM duckdb_tables() "
                "UNION ALL SELECT schema_name, view_name, sql FROM duckdb_views() "
                "WHERE NOT internal"
            ).fetchall()
            for schema, table, sql in objects:
                where = f"{path} {schema}.{table}"
                hits += self.scan_text(f"{where} (SQL)", sql or "")
                relation = connection.sql(f'SELECT * FROM "{schema}"."{table}"')  # noqa: S608
                hits += self.scan_arrow(where, relation.to_arrow_table())
        return hits

    def scan_sqlite(self, path: Path) -> list[Hit]:
        """Hits in every value of every table of a SQLite file (a ledger, Prefect's database).

        Read in place, not through a dump, so a value split over pages or stored as a blob
        is seen whole.
        """
        hits: list[Hit] = []
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = [
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            for table in tables:
                found: set[Hit] = set()
                for row in connection.execute(f'SELECT * FROM "{table}"'):  # noqa: S608
                    for value in row:
                        if isinstance(value, str):
                            found.update(self.scan_text(f"{path} table {table}", value))
                        elif isinstance(value, bytes):
                            found.update(self.scan_bytes(f"{path} table {table}", value))
                hits += sorted(found, key=lambda hit: hit.secret)
        finally:
            connection.close()
        return hits

    # -- Prefect ---------------------------------------------------------------------------

    async def scan_prefect(self, client: PrefectClient) -> list[Hit]:
        """Hits in what a running Prefect server holds: logs, artifacts, flow and task runs
        (parameters, states, names) and variables, read page by page through its API."""
        hits: list[Hit] = []
        readers = {
            "log": client.read_logs,
            "artifact": client.read_artifacts,
            "flow run": client.read_flow_runs,
            "task run": client.read_task_runs,
        }
        for kind, read in readers.items():
            offset = 0
            while True:
                page = await read(limit=PAGE, offset=offset)
                for record in page:
                    hits += self.scan_text(f"Prefect {kind} {record.id}", _json(record))
                if len(page) < PAGE:
                    break
                offset += PAGE
        for variable in await client.read_variables():
            hits += self.scan_text(f"Prefect variable {variable.name}", _json(variable))
        return hits


def _json(record: Any) -> str:
    return record.model_dump_json()


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(16) == b"SQLite format 3\x00"


def _as_text(column: pa.ChunkedArray, kind: pa.DataType) -> pa.Array | None:
    """The column as strings, or None for types that cannot hold a secret (numbers, times)."""
    if pa.types.is_dictionary(kind):
        return _as_text(
            pa.chunked_array([c.dictionary_decode() for c in column.chunks]), kind.value_type
        )
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column.combine_chunks() if column.num_chunks else pa.array([], pa.string())
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return pc.cast(column, pa.large_binary()).combine_chunks()
    if pa.types.is_nested(kind):
        return pa.array([json.dumps(value, default=str) for value in column.to_pylist()])
    return None
