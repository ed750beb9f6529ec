"""The report's inputs as DuckDB views: the ledger export and the landed webhook events.

The SQL in `sql/` reads five fixed names: `sends`, `statuses`, `clicks`, `preferences` (views
over Parquet files, made here) and `rate_card` (a table, made by `mmapi.analytics.rates`).
Each view has the columns listed below with the types listed below, whatever the files hold:
a column the files lack is NULL, so a landing that adds or drops an optional field does not
break the report. DuckDB cannot bind parameters in a view, so the file lists go through the
relational API, which writes them into the view's text itself; no value is formatted into SQL
here.

Layout read (DESIGN.md): `sends` is a file, a glob, or a folder searched recursively for
`sends*.parquet` (a campaign folder also holds plan.parquet and others, which are not sends);
events are `DIR/events/<kind>/dt=YYYY-MM-DD/*.parquet`, where DIR may also be the `events`
folder itself. Files whose name starts with `.` or `_` are skipped: writers put their temporary
files there before renaming them into place.

Either input may be an object store URL (`s3://bucket/campaigns`, `s3://bucket/lake`): the
files are listed through fsspec and DuckDB reads them through the same filesystem, registered
on its connection (`mmapi.storage.register_on`).
"""

from __future__ import annotations

import fnmatch
import glob
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .. import storage
from ..schemas import SENDS_SCHEMA

__all__ = [
    "CLICK_COLUMNS",
    "EVENT_KINDS",
    "PREFERENCE_COLUMNS",
    "SENDS_COLUMNS",
    "STATUS_COLUMNS",
    "InputFiles",
    "events_root",
    "find_event_files",
    "find_sends_files",
    "register_inputs",
]

# name -> (DuckDB type, other names the landing may use for it)
Columns = Mapping[str, tuple[str, tuple[str, ...]]]

_ARROW_TO_DUCKDB = {
    "string": "VARCHAR",
    "int64": "BIGINT",
    "int32": "INTEGER",
    "timestamp[us, tz=UTC]": "TIMESTAMPTZ",
}

SENDS_COLUMNS: Columns = {
    field.name: (_ARROW_TO_DUCKDB[str(field.type)], ()) for field in SENDS_SCHEMA
}

STATUS_COLUMNS: Columns = {
    "wamid": ("VARCHAR", ("id",)),
    "status": ("VARCHAR", ()),
    "ts": ("TIMESTAMPTZ", ("timestamp",)),
    "recipient_id": ("VARCHAR", ()),
    "pricing_billable": ("BOOLEAN", ("billable",)),
    "pricing_model": ("VARCHAR", ()),
    "pricing_category": ("VARCHAR", ("category",)),
    "pricing_type": ("VARCHAR", ()),
    "error_code": ("BIGINT", ()),
    "error_title": ("VARCHAR", ()),
    "error_details": ("VARCHAR", ()),
    "phone_number_id": ("VARCHAR", ()),
    "waba_id": ("VARCHAR", ()),
    "biz_opaque_callback_data": ("VARCHAR", ()),
}

CLICK_COLUMNS: Columns = {
    "click_id": ("VARCHAR", ()),
    "ts": ("TIMESTAMPTZ", ("timestamp",)),
    "click_component": ("VARCHAR", ()),
    "product_id": ("VARCHAR", ()),
    "tracking_token": ("VARCHAR", ()),
    "phone_number_id": ("VARCHAR", ()),
    "waba_id": ("VARCHAR", ()),
    "action_type": ("VARCHAR", ()),
}

PREFERENCE_COLUMNS: Columns = {
    "wa_id": ("VARCHAR", ()),
    "value": ("VARCHAR", ()),
    "ts": ("TIMESTAMPTZ", ("timestamp",)),
    "category": ("VARCHAR", ()),
}

# Event folder name -> (view name, columns).
EVENT_KINDS: dict[str, tuple[str, Columns]] = {
    "statuses": ("statuses", STATUS_COLUMNS),
    "clicks": ("clicks", CLICK_COLUMNS),
    "preferences": ("preferences", PREFERENCE_COLUMNS),
}


@dataclass(frozen=True, slots=True)
class InputFiles:
    """The files behind each input view.

    Attributes:
        sends: Parquet files of the ledger export(s).
        events: Parquet files per event folder (`statuses`, `clicks`, `preferences`).
    """

    sends: list[Path | str]
    events: dict[str, list[Path | str]]

    def counts(self) -> dict[str, int]:
        """Files per input, for logs and the report's parameters."""
        return {"sends": len(self.sends), **{k: len(v) for k, v in self.events.items()}}


def _visible(path: Path | str) -> bool:
    return not str(path).rstrip("/").rsplit("/", 1)[-1].startswith((".", "_"))


def _remote_files(url: str, name_pattern: str) -> list[Path | str]:
    """The visible files named like `name_pattern` under (or matching) an object store URL."""
    fs, path = storage.filesystem(url)
    if glob.has_magic(path):
        found = fs.glob(path)
    elif fs.isfile(path):
        found = [path]
    else:
        found = [p for p in fs.find(path) if fnmatch.fnmatch(p.rsplit("/", 1)[-1], name_pattern)]
    return sorted(fs.unstrip_protocol(p) for p in found if _visible(p))


def find_sends_files(sends: str | Path) -> list[Path | str]:
    """The Parquet files of `sends`: a file, a glob, or a folder (`sends*.parquet` below it).

    Local paths come back as `Path`s, files on an object store as URLs.

    Raises:
        FileNotFoundError: nothing matches.
    """
    text = str(sends)
    path = Path(text)
    found: list[Path | str]
    if storage.is_url(text):
        found = _remote_files(text, "sends*.parquet")
    elif path.is_file():
        return [path]
    elif path.is_dir():
        found = sorted(p for p in path.rglob("sends*.parquet") if _visible(p))
    else:
        found = sorted(Path(p) for p in glob.glob(text, recursive=True) if _visible(Path(p)))
    if not found:
        raise FileNotFoundError(
            f"{text}: no sends Parquet file found (give a file, folder or glob)"
        )
    return found


def events_root(events: str | Path) -> Path | str:
    """The `events` folder of a landing output given as `DIR` or `DIR/events` (path or URL).

    Raises:
        FileNotFoundError: `events` is not a folder.
    """
    if storage.is_url(events):
        fs, path = storage.filesystem(events)
        if not fs.isdir(path):
            raise FileNotFoundError(f"{events}: events folder not found")
        inner = storage.join(events, "events")
        return inner if fs.isdir(f"{path.rstrip('/')}/events") else str(events).rstrip("/")
    root = Path(events)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: events folder not found")
    return root / "events" if (root / "events").is_dir() else root


def find_event_files(events: str | Path) -> dict[str, list[Path | str]]:
    """The landed event files per kind under `events` (`DIR` or `DIR/events`).

    A kind without files maps to an empty list: a campaign may have no clicks.

    Raises:
        FileNotFoundError: `events` is not a folder.
    """
    root = events_root(events)
    if isinstance(root, str):
        return {
            kind: _remote_files(str(storage.join(root, kind)), "*.parquet") for kind in EVENT_KINDS
        }
    return {
        kind: sorted(p for p in (root / kind).rglob("*.parquet") if _visible(p))
        for kind in EVENT_KINDS
    }


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cast(source: str, source_type: str, target: str) -> str:
    """SQL casting a source column to the view's type; timestamps may come as Unix seconds."""
    column = _quote(source)
    if target == "TIMESTAMPTZ":
        if source_type in {"BIGINT", "INTEGER", "HUGEINT", "UBIGINT", "DOUBLE"}:
            return f"to_timestamp({column})"
        if source_type == "VARCHAR":
            return (
                f"coalesce(TRY_CAST({column} AS TIMESTAMPTZ), "
                f"to_timestamp(TRY_CAST({column} AS BIGINT)))"
            )
        # A naive TIMESTAMP is read as UTC: the connection's TimeZone is UTC.
        return f"CAST({column} AS TIMESTAMPTZ)"
    if source_type == target:
        return column
    return f"TRY_CAST({column} AS {target})"


def _projection(present: Mapping[str, str], columns: Columns) -> str:
    items = []
    for name, (target, aliases) in columns.items():
        source = next((n for n in (name, *aliases) if n in present), None)
        if source is None:
            items.append(f"CAST(NULL AS {target}) AS {_quote(name)}")
        else:
            items.append(f"{_cast(source, present[source], target)} AS {_quote(name)}")
    return ", ".join(items)


def _create_view(
    con: duckdb.DuckDBPyConnection, name: str, files: list[Path | str], columns: Columns
) -> None:
    if not files:
        # An empty view with the right columns: the SQL reads it like any other.
        empty = ", ".join(f"CAST(NULL AS {t}) AS {_quote(n)}" for n, (t, _) in columns.items())
        con.sql(f"SELECT {empty} LIMIT 0").create_view(name)
        return
    relation = con.read_parquet([str(f) for f in files], union_by_name=True)
    present = {
        column: str(kind) for column, kind in zip(relation.columns, relation.types, strict=True)
    }
    relation.project(_projection(present, columns)).create_view(name)


def register_inputs(
    con: duckdb.DuckDBPyConnection, sends: str | Path, events: str | Path
) -> InputFiles:
    """Create the views `sends`, `statuses`, `clicks` and `preferences` on `con`.

    Args:
        con: The connection the report's SQL runs on (its TimeZone must be UTC).
        sends: A sends Parquet file, a folder of them, or a glob (local, or a URL).
        events: The landing folder (`DIR` holding `events/`, or `events/` itself).

    Returns:
        The files behind each view.

    Raises:
        FileNotFoundError: no sends file, or no events folder.
    """
    files = InputFiles(sends=find_sends_files(sends), events=find_event_files(events))
    storage.register_on(con, [sends, events])
    _create_view(con, "sends", files.sends, SENDS_COLUMNS)
    for kind, (view, columns) in EVENT_KINDS.items():
        _create_view(con, view, files.events[kind], columns)
    return files
