"""Scoring a chaos run against the sandbox's ground truth, with the SQL in `sql/chaos/`.

Every figure compares two independent records: the sandbox's ground truth (what it accepted,
and which webhook events the receiver acknowledged) against what the pipeline wrote (the
plan, the landed events, the report).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from mmapi.sql import load_sql

__all__ = ["score_run"]

_EVENT_TABLES = ("statuses", "clicks", "preferences")
# The ground truth's fields the checks read: named, so a run without (say) clicks still binds.
_TRUTH_COLUMNS = {
    "record": "VARCHAR",
    "wamid": "VARCHAR",
    "wa_id": "VARCHAR",
    "endpoint": "VARCHAR",
    "fate": "VARCHAR",
    "kind": "VARCHAR",
    "status": "VARCHAR",
    "ts": "BIGINT",
    "click_id": "VARCHAR",
}
# Columns the checks read from the landed tables, so an empty table still makes a view.
_EVENT_COLUMNS = {
    "statuses": "NULL::VARCHAR AS wamid, NULL::VARCHAR AS status",
    "clicks": "NULL::VARCHAR AS click_id",
    "preferences": "NULL::VARCHAR AS wa_id, NULL::VARCHAR AS value, NULL::TIMESTAMPTZ AS ts",
}


def _row(db: duckdb.DuckDBPyConnection, name: str) -> dict[str, Any]:
    cursor = db.execute(load_sql(f"chaos/{name}"))
    names = [column[0] for column in cursor.description]
    return dict(zip(names, cursor.fetchall()[0], strict=True))


def _event_views(db: duckdb.DuckDBPyConnection, events: Path) -> None:
    for table in _EVENT_TABLES:
        files = sorted(p for p in (events / table).rglob("*.parquet") if not p.name.startswith("."))
        if files:
            db.read_parquet([str(p) for p in files], hive_partitioning=True).create_view(table)
        else:
            db.sql(f"SELECT {_EVENT_COLUMNS[table]} WHERE FALSE").create_view(table)


def score_run(
    *, truth: Path, plan: Path, events: Path, report: Path, sends: Path
) -> dict[str, Any]:
    """The chaos run's figures.

    Args:
        truth: The sandbox's ground truth as NDJSON (`SandboxConfig.ground_truth_path`).
        plan: The first plan.parquet (the sendable recipients).
        events: The landed events folder (`<lake>/events`).
        report: The report's analytics.duckdb.
        sends: The campaign's sends.parquet (the ledger's attempts).

    Returns:
        `send` (sent_twice, never_sent, ...), `webhooks` (acked_missing, landed_twice, ...),
        `report_cells` (arm, status, truth, report), `report` (wrong_status, not_in_report),
        and `ledger_claims` (sum of the ledger's attempts).
    """
    with duckdb.connect() as db:
        db.execute("SET enable_progress_bar = false")
        db.read_json(str(truth), format="newline_delimited", columns=_TRUTH_COLUMNS).create_view(
            "truth"
        )
        db.read_parquet(str(plan)).create_view("plan")
        _event_views(db, events)
        db.execute("ATTACH ? AS report (READ_ONLY)", [str(report)])
        db.execute("CREATE VIEW message_status AS SELECT * FROM report.message_status")
        send = _row(db, "send_check")
        webhooks = _row(db, "webhook_check")
        cursor = db.execute(load_sql("chaos/report_cells"))
        cells = [
            dict(zip(("arm", "status", "truth", "report"), r, strict=True))
            for r in cursor.fetchall()
        ]
        messages = _row(db, "report_message_check")
    attempts = pq.read_table(sends, columns=["attempts"]).column("attempts")
    return {
        "send": send,
        "webhooks": webhooks,
        "report_cells": cells,
        "report": messages,
        "ledger_claims": int(sum(a for a in attempts.to_pylist() if a is not None)),
    }
