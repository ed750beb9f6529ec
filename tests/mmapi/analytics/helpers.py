"""Helpers of the analytics tests: hand-made sends and landed events, and ledger rows made
from the sandbox's ground truth."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mmapi.schemas import SENDS_SCHEMA, TIMESTAMP

T0 = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)
TTL_12H = 43_200

STATUS_SCHEMA = pa.schema(
    [
        ("wamid", pa.string()),
        ("status", pa.string()),
        ("ts", TIMESTAMP),
        ("recipient_id", pa.string()),
        ("pricing_billable", pa.bool_()),
        ("pricing_model", pa.string()),
        ("pricing_category", pa.string()),
        ("pricing_type", pa.string()),
        ("error_code", pa.int64()),
        ("error_title", pa.string()),
        ("error_details", pa.string()),
        ("phone_number_id", pa.string()),
        ("waba_id", pa.string()),
        ("source_file", pa.string()),
    ]
)
CLICK_SCHEMA = pa.schema(
    [
        ("click_id", pa.string()),
        ("ts", TIMESTAMP),
        ("click_component", pa.string()),
        ("product_id", pa.string()),
        ("tracking_token", pa.string()),
        ("phone_number_id", pa.string()),
        ("waba_id", pa.string()),
        ("action_type", pa.string()),
    ]
)
PREFERENCE_SCHEMA = pa.schema([("wa_id", pa.string()), ("value", pa.string()), ("ts", TIMESTAMP)])
SCHEMAS = {"statuses": STATUS_SCHEMA, "clicks": CLICK_SCHEMA, "preferences": PREFERENCE_SCHEMA}


def at(minutes: float = 0, *, hours: float = 0, days: float = 0) -> datetime:
    """T0 plus an offset."""
    return T0 + timedelta(minutes=minutes, hours=hours, days=days)


def send(
    key: str,
    arm: str,
    *,
    campaign: str = "c1",
    state: str = "accepted",
    wamid: str | None = "auto",
    country: str | None = "AR",
    template: str = "spring_sale",
    ttl: int | None = TTL_12H,
    sent_at: datetime = T0,
    recipient: str | None = None,
) -> dict[str, Any]:
    """One ledger row; wamid `wamid.<key>` unless given (None for never accepted)."""
    if wamid == "auto":
        wamid = f"wamid.{key}" if state == "accepted" else None
    return {
        "message_key": key,
        "campaign_id": campaign,
        "recipient": recipient or "549" + hashlib.sha256(key.encode()).hexdigest()[:9],
        "country": country,
        "arm": arm,
        "template_name": template,
        "language": "en",
        "state": state,
        "wamid": wamid,
        "message_status": "accepted" if state == "accepted" else None,
        "error_code": None,
        "error_title": None,
        "attempts": 1,
        "ttl_seconds": ttl,
        "planned_at": sent_at,
        "sent_at": sent_at if state != "planned" else None,
        "finished_at": sent_at,
    }


def status(
    wamid: str,
    kind: str,
    ts: datetime,
    *,
    category: str | None = None,
    code: int | None = None,
    pricing_type: str | None = "regular",
    phone: str = "P1",
) -> dict[str, Any]:
    """One landed status row; pricing only when a category is given (as on sent/delivered/read)."""
    priced = category is not None
    return {
        "wamid": wamid,
        "status": kind,
        "ts": ts,
        "recipient_id": None,
        "pricing_billable": True if priced else None,
        "pricing_model": "PMP" if priced else None,
        "pricing_category": category,
        "pricing_type": pricing_type if priced else None,
        "error_code": code,
        "error_title": f"error {code}" if code else None,
        "error_details": None,
        "phone_number_id": phone,
        "waba_id": "W1",
        "source_file": "webhooks-1.ndjson",
    }


def click(
    click_id: str | None, ts: datetime, *, phone: str | None = "P1", **extra: Any
) -> dict[str, Any]:
    """One landed click row."""
    row = {
        "click_id": click_id,
        "ts": ts,
        "click_component": "cta",
        "product_id": None,
        "tracking_token": f"tok-{click_id}",
        "phone_number_id": phone,
        "waba_id": "W1",
        "action_type": "marketing_messages_link_click",
    }
    row.update(extra)
    return row


def preference(wa_id: str, value: str, ts: datetime) -> dict[str, Any]:
    """One landed user_preferences row."""
    return {"wa_id": wa_id, "value": value, "ts": ts}


def write_sends(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write a sends.parquet with `SENDS_SCHEMA`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SENDS_SCHEMA), path)
    return path


def write_events(root: Path, kind: str, rows: list[dict[str, Any]], part: int = 0) -> None:
    """Write rows of one event kind under `root/events/<kind>/dt=<day>/part-<n>.parquet`."""
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_day[row["ts"].strftime("%Y-%m-%d")].append(row)
    for day, day_rows in by_day.items():
        folder = root / "events" / kind / f"dt={day}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(day_rows, schema=SCHEMAS[kind])
        pq.write_table(table, folder / f"part-{part}.parquet")


def sends_from_truth(messages: list[dict[str, Any]], campaign: str = "sandbox") -> list[dict]:
    """Ledger rows for the ground truth's accepted messages (arm = the endpoint used)."""
    rows = []
    for m in messages:
        accepted_at = datetime.fromtimestamp(m["accepted_at"], tz=UTC)
        row = send(
            hashlib.sha256(m["wamid"].encode()).hexdigest()[:16],
            "mm" if m["endpoint"] == "marketing_messages" else "cloud",
            campaign=campaign,
            wamid=m["wamid"],
            country="DE",
            template=m["template"],
            ttl=m["ttl_seconds"],
            sent_at=accepted_at,
            recipient=m["wa_id"],
        )
        row["message_status"] = m["message_status"]
        rows.append(row)
    return rows


def table_rows(build: Any, name: str) -> list[dict[str, Any]]:
    """An exported table of a build as a list of dicts."""
    return pq.read_table(build.tables[name]).to_pylist()


def by_key(rows: list[dict[str, Any]], *keys: str) -> dict[Any, dict[str, Any]]:
    """Rows indexed by one column, or by a tuple of columns."""
    if len(keys) == 1:
        return {row[keys[0]]: row for row in rows}
    return {tuple(row[k] for k in keys): row for row in rows}


def view_rows(build: Any, name: str) -> list[dict[str, Any]]:
    """A view (or table) of a build's database as a list of dicts."""
    import duckdb

    con = duckdb.connect(str(build.database), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.table(name).to_arrow_table().to_pylist()
    finally:
        con.close()
