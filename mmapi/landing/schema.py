"""The explicit schemas of the landing: what DuckDB reads from each line, and what it writes.

Reading: one `read_json` over the files of a batch, with the union of two schemas: what a
`statuses[]` element needs (`STATUS_COLUMNS`, also the bare scan of `benchmarks/landing.py`),
and the envelope, user actions (clicks), user preferences and account updates
(`OTHER_COLUMNS`). The statuses are flattened by that read itself; the few lines with anything
else come out of it again as JSON, one change at a time, which `OTHER_STRUCTURE` types for
`other_rows.sql` (a second `read_json` of the files cost a sixth of the landing's CPU; the
wider schema and the markers take back about two thirds of that).
Containers (objects, arrays) are typed, so a line with an array where an object belongs is
refused by DuckDB itself; scalars are read as text
(`VARCHAR`), so a number where a string is expected keeps its digits, and the rule checks in
`sql/landing/*_rows.sql` decide what a valid timestamp, code or flag is. Every field listed
here is used by those queries.

Writing: one Arrow schema per output table under `DIR/events/<table>/dt=YYYY-MM-DD/`, with UTC
timestamps as `timestamp[us, tz=UTC]`; `dt` is the partition (not a column in the files).
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

__all__ = [
    "DISTINCT_COLUMNS",
    "KEY_COLUMNS",
    "LINE_COLUMNS",
    "OFFSET_KEY",
    "OTHER_COLUMNS",
    "OTHER_STRUCTURE",
    "OUTPUT_SCHEMAS",
    "STATUS_COLUMNS",
    "STATUS_ROWS_SCHEMA",
    "TABLES",
    "container_paths",
    "duckdb_type",
]

# Key spliced into each line by the careful path, holding the line's byte offset in its file.
OFFSET_KEY = "_mmflow_offset"

_TEXT = "VARCHAR"
_RECEIVED = {"received_at": _TEXT}
_METADATA = {"phone_number_id": _TEXT}
_STATUS: dict[str, Any] = {
    "id": _TEXT,
    "status": _TEXT,
    "timestamp": _TEXT,
    "recipient_id": _TEXT,
    "biz_opaque_callback_data": _TEXT,
    "conversation": {"id": _TEXT, "origin": {"type": _TEXT}, "expiration_timestamp": _TEXT},
    "pricing": {"billable": _TEXT, "pricing_model": _TEXT, "type": _TEXT, "category": _TEXT},
    "errors": [{"code": _TEXT, "title": _TEXT, "message": _TEXT, "error_data": {"details": _TEXT}}],
}
_ACTION: dict[str, Any] = {
    "action_type": _TEXT,
    "timestamp": _TEXT,
    "marketing_messages_link_click_data": {
        "click_component": _TEXT,
        "product_id": _TEXT,
        "click_id": _TEXT,
        "tracking_token": _TEXT,
        "client_user_agent": _TEXT,
    },
}
_PREFERENCE: dict[str, Any] = {
    "wa_id": _TEXT,
    "category": _TEXT,
    "value": _TEXT,
    "timestamp": _TEXT,
}
_STATUS_LINE: dict[str, Any] = {
    "_mmflow": _RECEIVED,
    OFFSET_KEY: "BIGINT",
    "entry": [
        {
            "id": _TEXT,
            "changes": [{"field": _TEXT, "value": {"metadata": _METADATA, "statuses": [_STATUS]}}],
        }
    ],
}
_OTHER_LINE: dict[str, Any] = {
    "_mmflow": _RECEIVED,
    OFFSET_KEY: "BIGINT",
    "object": _TEXT,
    "entry": [
        {
            "id": _TEXT,
            "time": _TEXT,
            "changes": [
                {
                    "field": _TEXT,
                    "value": {
                        "metadata": _METADATA,
                        "user_actions": [_ACTION],
                        "user_preferences": [_PREFERENCE],
                        "event": _TEXT,
                        "waba_info": _TEXT,
                        "message_template_id": _TEXT,
                        "message_template_name": _TEXT,
                        "message_template_language": _TEXT,
                        "previous_category": _TEXT,
                        "new_category": _TEXT,
                        "correct_category": _TEXT,
                    },
                }
            ],
        }
    ],
}


def duckdb_type(node: Any) -> str:
    """The DuckDB type of a schema node: a type name, `[node]` (a list) or `{key: node}`.

    Example:
        >>> duckdb_type({"a": "VARCHAR", "b": [{"c": "BIGINT"}]})
        'STRUCT("a" VARCHAR, "b" STRUCT("c" BIGINT)[])'
    """
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return duckdb_type(node[0]) + "[]"
    fields = ", ".join(f'"{name}" {duckdb_type(child)}' for name, child in node.items())
    return f"STRUCT({fields})"


def container_paths() -> list[tuple[str, str]]:
    """Every object or array of the two read schemas, as (JSONPath, `OBJECT` | `ARRAY`).

    The careful path checks these with `json_type` (`sql/landing/line_checks.sql` lists them
    literally; a test keeps the two in step), so that a line DuckDB would refuse is named
    with its path instead of being found by halving.

    Example:
        >>> ("$.entry[*].changes", "ARRAY") in container_paths()
        True
    """
    found: dict[str, str] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, list):
            found[path] = "ARRAY"
            walk(node[0], path + "[*]")
        elif isinstance(node, dict):
            if path != "$":
                found[path] = "OBJECT"
            for name, child in node.items():
                walk(child, f"{path}.{name}")

    walk(_STATUS_LINE, "$")
    walk(_OTHER_LINE, "$")
    return sorted(found.items())


# A line as the landing reads it: the other kinds' schema, with the statuses beside them.
_LINE: dict[str, Any] = {
    **_OTHER_LINE,
    "entry": [
        {
            **_OTHER_LINE["entry"][0],
            "changes": [
                {
                    "field": _TEXT,
                    "value": {
                        **_OTHER_LINE["entry"][0]["changes"][0]["value"],
                        "statuses": [_STATUS],
                    },
                }
            ],
        }
    ],
}

# `columns` of read_json (bound as parameters, never formatted into SQL): the landing's read
# (LINE_COLUMNS), and the two halves it joins (statuses, the rest).
LINE_COLUMNS: dict[str, str] = {name: duckdb_type(node) for name, node in _LINE.items()}
STATUS_COLUMNS: dict[str, str] = {name: duckdb_type(node) for name, node in _STATUS_LINE.items()}
OTHER_COLUMNS: dict[str, str] = {name: duckdb_type(node) for name, node in _OTHER_LINE.items()}
# `json_transform`'s structure for a marker of status_rows.sql, read by other_rows.sql: a change
# (without its statuses) and where it sits.
OTHER_STRUCTURE = json.dumps(
    {
        "received_at_text": _TEXT,
        "object": _TEXT,
        "entry_count": "BIGINT",
        "i": "BIGINT",
        "entry_null": "BOOLEAN",
        "waba_id": _TEXT,
        "entry_time": _TEXT,
        "change_count": "BIGINT",
        "j": "BIGINT",
        "c": _OTHER_LINE["entry"][0]["changes"][0],
    }
)

_UTC = pa.timestamp("us", tz="UTC")
_LINEAGE = [pa.field("received_at", _UTC), pa.field("source_file", pa.string())]

# What `sql/landing/status_rows.sql` gives for a batch, fetched as Arrow: one row per
# statuses[] element, typed, with where it came from (file, line offset on the careful path,
# entry i, change j, status k) and the first rule it breaks (`problem`, NULL when it lands);
# and a marker row (no status, `other_json` not NULL) for each change other_rows.sql must see.
# The engine turns `source_index` into `source_file` and adds `row_id` (the read order).
STATUS_ROWS_SCHEMA = pa.schema(
    [
        pa.field("file_id", pa.int32()),
        pa.field("source_index", pa.int32()),
        pa.field("line_offset", pa.int64()),
        pa.field("i", pa.int64()),
        pa.field("j", pa.int64()),
        pa.field("k", pa.int64()),
        pa.field("received_at", _UTC),
        pa.field("waba_id", pa.string()),
        pa.field("phone_number_id", pa.string()),
        pa.field("wamid", pa.string()),
        pa.field("status", pa.string()),
        pa.field("ts", _UTC),
        pa.field("dt", pa.date32()),
        pa.field("recipient_id", pa.string()),
        pa.field("pricing_billable", pa.bool_()),
        pa.field("pricing_model", pa.string()),
        pa.field("pricing_category", pa.string()),
        pa.field("pricing_type", pa.string()),
        pa.field("error_code", pa.int64()),
        pa.field("error_title", pa.string()),
        pa.field("error_message", pa.string()),
        pa.field("error_details", pa.string()),
        pa.field("biz_opaque_callback_data", pa.string()),
        pa.field("conversation_id", pa.string()),
        pa.field("conversation_origin_type", pa.string()),
        pa.field("conversation_expiration_ts", _UTC),
        pa.field("problem", pa.string()),
        pa.field("other_json", pa.string()),
    ]
)

OUTPUT_SCHEMAS: dict[str, pa.Schema] = {
    "statuses": pa.schema(
        [
            pa.field("wamid", pa.string(), nullable=False),
            pa.field("status", pa.string(), nullable=False),
            pa.field("ts", _UTC, nullable=False),
            pa.field("recipient_id", pa.string()),
            pa.field("pricing_billable", pa.bool_()),
            pa.field("pricing_model", pa.string()),
            pa.field("pricing_category", pa.string()),
            pa.field("pricing_type", pa.string()),
            pa.field("error_code", pa.int64()),
            pa.field("error_title", pa.string()),
            pa.field("error_message", pa.string()),
            pa.field("error_details", pa.string()),
            pa.field("biz_opaque_callback_data", pa.string()),
            pa.field("conversation_id", pa.string()),
            pa.field("conversation_origin_type", pa.string()),
            pa.field("conversation_expiration_ts", _UTC),
            pa.field("phone_number_id", pa.string()),
            pa.field("waba_id", pa.string()),
            *_LINEAGE,
        ]
    ),
    "clicks": pa.schema(
        [
            pa.field("click_id", pa.string()),
            pa.field("ts", _UTC, nullable=False),
            pa.field("action_type", pa.string(), nullable=False),
            pa.field("click_component", pa.string()),
            pa.field("product_id", pa.string()),
            pa.field("tracking_token", pa.string()),
            pa.field("client_user_agent", pa.string()),
            pa.field("phone_number_id", pa.string()),
            pa.field("waba_id", pa.string()),
            *_LINEAGE,
        ]
    ),
    "preferences": pa.schema(
        [
            pa.field("wa_id", pa.string(), nullable=False),
            pa.field("value", pa.string(), nullable=False),
            pa.field("ts", _UTC, nullable=False),
            pa.field("category", pa.string()),
            pa.field("phone_number_id", pa.string()),
            pa.field("waba_id", pa.string()),
            *_LINEAGE,
        ]
    ),
    "account_updates": pa.schema(
        [
            pa.field("field", pa.string(), nullable=False),
            pa.field("event", pa.string()),
            pa.field("waba_id", pa.string()),
            pa.field("ts", _UTC, nullable=False),
            pa.field("waba_info", pa.string()),
            pa.field("message_template_id", pa.string()),
            pa.field("message_template_name", pa.string()),
            pa.field("message_template_language", pa.string()),
            pa.field("previous_category", pa.string()),
            pa.field("new_category", pa.string()),
            pa.field("correct_category", pa.string()),
            *_LINEAGE,
        ]
    ),
    "quarantine": pa.schema(
        [
            pa.field("source_file", pa.string(), nullable=False),
            pa.field("source_offset", pa.int64(), nullable=False),
            pa.field("raw_line", pa.binary(), nullable=False),
            pa.field("reason", pa.string(), nullable=False),
            pa.field("received_at", _UTC),
            pa.field("quarantined_at", _UTC, nullable=False),
            pa.field("run_id", pa.string(), nullable=False),
        ]
    ),
}

TABLES = tuple(OUTPUT_SCHEMAS)

# What makes two rows the same event: a redelivery repeats these exactly.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "statuses": ("wamid", "status"),
    "clicks": ("action_type", "click_id", "tracking_token", "ts"),
    "preferences": ("wa_id", "value", "ts"),
    "account_updates": ("field", "event", "waba_id", "ts", "message_template_id"),
    "quarantine": ("source_file", "source_offset"),
}

# Columns whose values are nearly all distinct: Parquet dictionary encoding would build a
# dictionary for each and then give up (a quarter of the statuses' write time), so they are
# written plain.
DISTINCT_COLUMNS: dict[str, frozenset[str]] = {
    "statuses": frozenset(
        {"wamid", "recipient_id", "ts", "received_at", "biz_opaque_callback_data"}
    ),
}
