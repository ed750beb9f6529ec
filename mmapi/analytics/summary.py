"""The report's key tables read back from `analytics.duckdb`, as plain data and markdown.

The HTML report, the Prefect artifacts and the flow's return value all come from one
`ReportSummary`, so they cannot disagree with each other or with the database.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

__all__ = [
    "ReportSummary",
    "cost_markdown",
    "format_cell",
    "funnel_markdown",
    "read_summary",
]

Row = dict[str, Any]


@dataclass(slots=True)
class ReportSummary:
    """The tables a reader looks at first.

    Attributes:
        parameters: The `report_parameters` row.
        funnel: `funnel` rows (campaign x arm).
        cost_by_arm: `cost_by_arm` rows.
        cost_comparison: `cost_comparison` rows (one per campaign).
        reconciliation: `reconciliation` rows.
        failure_reasons: `failure_reasons` rows.
        delivery_curve: `delivery_curve` rows.
        rate_gaps: `rate_gaps` rows.
        clicks: Click events per attribution outcome (`arm`, `campaign`, `ambiguous`, ...).
    """

    parameters: Row
    funnel: list[Row]
    cost_by_arm: list[Row]
    cost_comparison: list[Row]
    reconciliation: list[Row]
    failure_reasons: list[Row]
    delivery_curve: list[Row]
    rate_gaps: list[Row]
    clicks: dict[str, int]

    @property
    def as_of(self) -> datetime:
        """The time the report is as of."""
        return self.parameters["as_of"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: numbers as int/float (money rounded to 6 places), times as ISO text.

        The delivery curve is left out (it is long and lives in its table).
        """
        return {
            "as_of": _plain(self.as_of),
            "funnel": _plain(self.funnel),
            "cost_comparison": _plain(self.cost_comparison),
            "reconciliation": _plain(self.reconciliation),
            "rate_gaps": _plain(self.rate_gaps),
            "clicks": dict(self.clicks),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return round(float(value), 6)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> list[Row]:
    # DuckDB's own Python values: Arrow's to_pylist would import pandas (half a second).
    relation = con.table(table)
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def read_summary(database: str | Path | duckdb.DuckDBPyConnection) -> ReportSummary:
    """Read the summary tables of a built `analytics.duckdb`.

    Args:
        database: The database file (opened read-only), or an open connection to it.

    Returns:
        The summary.
    """
    if isinstance(database, duckdb.DuckDBPyConnection):
        return _summary(database)
    con = duckdb.connect(str(database), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return _summary(con)
    finally:
        con.close()


def _summary(con: duckdb.DuckDBPyConnection) -> ReportSummary:
    clicks = con.sql(
        "SELECT attribution, count(*) FROM click_attribution GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return ReportSummary(
        parameters=_rows(con, "report_parameters")[0],
        funnel=_rows(con, "funnel"),
        cost_by_arm=_rows(con, "cost_by_arm"),
        cost_comparison=_rows(con, "cost_comparison"),
        reconciliation=_rows(con, "reconciliation"),
        failure_reasons=_rows(con, "failure_reasons"),
        delivery_curve=_rows(con, "delivery_curve"),
        rate_gaps=_rows(con, "rate_gaps"),
        clicks={str(kind): int(n) for kind, n in clicks},
    )


def format_cell(value: Any, kind: str = "int") -> str:
    """A cell for people: `pct` (share), `pp` (difference), `money`, `int` or `text`; — for none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if kind == "text":
        return str(value)
    if kind == "pct":
        return f"{float(value) * 100:.1f}%"
    if kind == "pp":
        return f"{float(value) * 100:+.2f} pp"
    if kind == "money":
        return f"{float(value):,.4f}"
    if kind == "int" and isinstance(value, int | Decimal) and not isinstance(value, bool):
        return f"{int(value):,}"
    return str(value)


def _markdown_table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


_FUNNEL_COLUMNS = (
    ("campaign", "campaign_id", "text"),
    ("arm", "arm", "text"),
    ("accepted", "accepted", "int"),
    ("delivered", "delivered", "int"),
    ("read", "read", "int"),
    ("clicks", "clicks", "int"),
    ("failed", "failed", "int"),
    ("expired", "expired", "int"),
    ("pending", "pending", "int"),
    ("delivery rate", "delivery_rate", "pct"),
    ("read rate", "read_rate", "pct"),
    ("click rate", "click_rate", "pct"),
)


def funnel_markdown(summary: ReportSummary) -> str:
    """The funnel per campaign and arm as a markdown table, with its denominators."""
    table = _markdown_table(
        [title for title, _, _ in _FUNNEL_COLUMNS],
        [[format_cell(r[c], k) for _, c, k in _FUNNEL_COLUMNS] for r in summary.funnel],
    )
    return (
        f"# Funnel by arm (as of {summary.as_of:%Y-%m-%d %H:%M} UTC)\n\n{table}\n\n"
        "Delivery rate = delivered / accepted; read rate = read / delivered; click rate = "
        "clicks / delivered (MM route only: the Cloud route reports no clicks).\n"
    )


def _verdict(row: Row, prefix: str) -> str:
    verdict = row[f"{prefix}_verdict"]
    interval = (
        f"95% CI {format_cell(row[f'{prefix}_lift_ci_low'], 'pp')} to "
        f"{format_cell(row[f'{prefix}_lift_ci_high'], 'pp')}"
    )
    if verdict == "not_computable":
        return "not computable (an arm is missing or has nothing to divide by)"
    if verdict == "inconclusive":
        return f"inconclusive: arms below the minimum size ({interval})"
    return f"{format_cell(row[f'{prefix}_lift'], 'pp')} ({interval}; {verdict.replace('_', ' ')})"


_COMPARISON_ROWS = (
    ("accepted", "accepted", "int"),
    ("delivery rate", "delivery_rate", "pct"),
    ("read rate", "read_rate", "pct"),
    ("cost", "cost", "money"),
    ("cost per delivered", "cost_per_delivered", "money"),
    ("cost per read", "cost_per_read", "money"),
)


def cost_markdown(summary: ReportSummary) -> str:
    """The MM-versus-Cloud comparison per campaign as markdown, with its caveats."""
    parts = ["# MM versus Cloud: cost comparison (by assigned arm)\n"]
    for r in summary.cost_comparison:
        currency = r["currency"] or ""
        rows = [
            [label, format_cell(r[f"{column}_mm"], kind), format_cell(r[f"{column}_cloud"], kind)]
            for label, column, kind in _COMPARISON_ROWS
        ]
        rows[3][0] = f"cost ({currency})"
        rows.append(["cost per click", format_cell(r["cost_per_click_mm"], "money"), "—"])
        rows.append(
            [
                "took the other route",
                format_cell(r["fallback_rate_mm"], "pct") + " (fallback)",
                format_cell(r["contamination_rate_cloud"], "pct") + " (contamination)",
            ]
        )
        notes = [
            f"- Delivery-rate lift of MM: {_verdict(r, 'delivery')}",
            f"- Read-rate lift of MM: {_verdict(r, 'read')}",
            "- Cost per incremental delivered: "
            f"{format_cell(r['cost_per_incremental_delivered'], 'money')}; per incremental read: "
            f"{format_cell(r['cost_per_incremental_read'], 'money')}",
        ]
        if not r["cost_complete"]:
            notes.append("- Some billable messages have no rate: costs are lower bounds.")
        if r["cost_is_estimate"]:
            notes.append(
                "- Costs are estimates (example rates or max-price caps): check your invoice."
            )
        parts.append(
            f"## {r['campaign_id']}\n\n"
            + _markdown_table(["", "MM", "Cloud"], rows)
            + "\n\n"
            + "\n".join(notes)
            + "\n"
        )
    if summary.rate_gaps:
        gaps = ", ".join(
            f"{g['country'] or '?'}/{g['pricing_category'] or '?'} ({g['messages']}, "
            f"{g['unpriced_reason']})"
            for g in summary.rate_gaps
        )
        parts.append(f"Rate-card gaps (not priced, never counted as 0): {gaps}\n")
    return "\n".join(parts)
