"""The self-contained HTML report, and the whole report (database, tables, HTML) in one call.

The HTML file needs nothing beside it: styles are inline and the charts are PNG images
embedded as base64 `data:` URLs, so it can be mailed or attached to a ticket as it is.
"""

from __future__ import annotations

import base64
import html
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .build import AnalyticsBuild, ReportSettings, build_analytics
from .charts import cost_per_read_chart, delivery_curve_chart, failure_reasons_chart, funnel_chart
from .summary import ReportSummary, format_cell, read_summary

__all__ = [
    "REPORT_NAME",
    "ReportFiles",
    "build_report_files",
    "render_html",
    "report_charts",
    "write_report",
]

REPORT_NAME = "report.html"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 1em; }
.charts img { max-width: 100%; display: block; margin: 0.8em 0; }
"""

# (column, heading, format) of each table shown.
_FUNNEL = [
    ("campaign_id", "campaign", "text"),
    ("arm", "arm", "text"),
    ("accepted", "accepted", "int"),
    ("delivered", "delivered", "int"),
    ("read", "read", "int"),
    ("clicks", "clicks", "int"),
    ("clicks_arm_unknown", "clicks, arm unknown", "int"),
    ("failed", "failed", "int"),
    ("failed_after_delivery", "failed after delivery", "int"),
    ("expired", "expired", "int"),
    ("pending", "pending", "int"),
    ("stopped", "stopped", "int"),
    ("delivery_rate", "delivery rate", "pct"),
    ("read_rate", "read rate", "pct"),
    ("click_rate", "click rate", "pct"),
]
_COST = [
    ("campaign_id", "campaign", "text"),
    ("arm", "arm", "text"),
    ("billable", "billable", "int"),
    ("unpriced", "unpriced", "int"),
    ("currency", "currency", "text"),
    ("cost", "cost", "money"),
    ("cost_per_delivered", "per delivered", "money"),
    ("cost_per_read", "per read", "money"),
    ("cost_per_click", "per click", "money"),
    ("other_route_share", "other route", "pct"),
    ("cost_is_estimate", "estimate", "text"),
]
_RECONCILIATION = [
    ("campaign_id", "campaign", "text"),
    ("accepted", "accepted", "int"),
    ("delivered", "delivered", "int"),
    ("failed", "failed", "int"),
    ("expired", "expired", "int"),
    ("pending", "pending", "int"),
    ("balanced", "balanced", "text"),
    ("no_webhook_overdue", "no webhook (overdue)", "int"),
    ("unknown_wamids", "unknown wamids", "int"),
    ("webhook_events", "webhook events", "int"),
]
_FAILURES = [
    ("campaign_id", "campaign", "text"),
    ("arm", "arm", "text"),
    ("error_code", "code", "text"),
    ("error_title", "title", "text"),
    ("failed", "failed", "int"),
    ("failed_after_delivery", "after delivery", "int"),
    ("share_of_accepted", "of accepted", "pct"),
]
_GAPS = [
    ("campaign_id", "campaign", "text"),
    ("arm", "arm", "text"),
    ("country", "country", "text"),
    ("pricing_category", "category", "text"),
    ("unpriced_reason", "reason", "text"),
    ("messages", "messages", "int"),
]


@dataclass(slots=True)
class ReportFiles:
    """What `build_report_files` wrote.

    Attributes:
        build: The database and tables.
        summary: The summary read back from the database.
        html: The HTML report.
    """

    build: AnalyticsBuild
    summary: ReportSummary
    html: Path


def _cell(value: Any, kind: str) -> str:
    if kind == "text":
        return html.escape("—" if value is None else str(value))
    return html.escape(format_cell(value, kind))


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title, _ in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row.get(c), k)}</td>" for c, _, k in columns) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _comparison(summary: ReportSummary) -> str:
    parts = []
    for r in summary.cost_comparison:
        lines = [
            ("delivery rate", "delivery_rate", "delivery"),
            ("read rate", "read_rate", "read"),
        ]
        rows = []
        for label, rate, test in lines:
            verdict = r[f"{test}_verdict"]
            lift = (
                "not quoted (inconclusive)"
                if verdict == "inconclusive"
                else format_cell(r[f"{test}_lift"], "pp")
            )
            rows.append(
                f"<tr><td>{label}</td><td>{format_cell(r[f'{rate}_mm'], 'pct')}</td>"
                f"<td>{format_cell(r[f'{rate}_cloud'], 'pct')}</td><td>{html.escape(lift)}</td>"
                f"<td>{format_cell(r[f'{test}_lift_ci_low'], 'pp')} to "
                f"{format_cell(r[f'{test}_lift_ci_high'], 'pp')}</td>"
                f"<td>{html.escape(verdict.replace('_', ' '))}</td></tr>"
            )
        parts.append(
            f"<h3>{html.escape(str(r['campaign_id']))}</h3>"
            "<table><tr><th></th><th>MM</th><th>Cloud</th><th>lift of MM</th>"
            "<th>95% CI</th><th>verdict</th></tr>" + "".join(rows) + "</table>"
            f"<p>Cost per incremental delivered: "
            f"{format_cell(r['cost_per_incremental_delivered'], 'money')}; per incremental read: "
            f"{format_cell(r['cost_per_incremental_read'], 'money')} "
            f"{html.escape(r['currency'] or '')}. "
            f"Fallback of the MM arm to Cloud: {format_cell(r['fallback_rate_mm'], 'pct')}; "
            f"Cloud arm sent over MM (contamination): "
            f"{format_cell(r['contamination_rate_cloud'], 'pct')}.</p>"
        )
    return "".join(parts) or "<p>No campaign.</p>"


def _notes(summary: ReportSummary) -> list[str]:
    notes = []
    if any(r["delivery_verdict"] == "inconclusive" for r in summary.cost_comparison):
        size = summary.parameters["min_arm_size"]
        notes.append(
            f"An arm has fewer than {size:,} accepted messages: the MM-versus-Cloud result is "
            "inconclusive, so only confidence intervals are shown, no lift."
        )
    if any(r["cost_is_estimate"] for r in summary.cost_by_arm):
        notes.append(
            "Costs are estimates: example rates or max-price caps (upper bounds). "
            "Check them against your invoice."
        )
    if summary.rate_gaps:
        missing = sum(int(g["messages"]) for g in summary.rate_gaps)
        notes.append(
            f"{missing:,} billable messages have no rate (see Rate-card gaps): they are left "
            "out of the costs, never priced at 0, and per-unit costs of their arms are not shown."
        )
    unknown = sum(int(r["unknown_wamids"]) for r in summary.reconciliation)
    if unknown:
        notes.append(f"{unknown:,} wamids in webhooks are in no ledger (table unknown_wamids).")
    unsplit = summary.clicks.get("campaign", 0)
    if unsplit:
        notes.append(
            f"{unsplit:,} clicks could be tied to their campaign but not to an arm: both arms "
            "had messages over the MM route."
        )
    return notes


def report_charts(summary: ReportSummary) -> dict[str, bytes]:
    """The four charts of the report as PNG bytes, by name."""
    return {
        "funnel": funnel_chart(summary.funnel),
        "delivery_curve": delivery_curve_chart(summary.delivery_curve),
        "cost_per_read": cost_per_read_chart(summary.cost_by_arm),
        "failure_reasons": failure_reasons_chart(summary.failure_reasons, summary.funnel),
    }


def render_html(summary: ReportSummary, charts: dict[str, bytes]) -> str:
    """The report page: notes, charts (embedded PNGs) and the key tables."""
    images = "".join(
        f'<img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode("ascii")}">'
        for name, png in charts.items()
    )
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in _notes(summary))
    p = summary.parameters
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Campaign report</title><style>{_STYLE}</style></head><body>"
        "<h1>Campaign report: MM versus Cloud</h1>"
        f"<p>As of {p['as_of']:%Y-%m-%d %H:%M} UTC. Arms are compared as assigned (intention "
        f"to treat). Delivery rate = delivered / accepted; read rate = read / delivered; click "
        f"rate = clicks / delivered.</p>{notes}"
        f'<div class="charts">{images}</div>'
        f"<h2>Funnel</h2>{_table(summary.funnel, _FUNNEL)}"
        f"<h2>MM versus Cloud</h2>{_comparison(summary)}"
        f"<h2>Cost by arm</h2>{_table(summary.cost_by_arm, _COST)}"
        f"<h2>Reconciliation</h2>{_table(summary.reconciliation, _RECONCILIATION)}"
        f"<h2>Failure reasons</h2>{_table(summary.failure_reasons, _FAILURES)}"
        f"<h2>Rate-card gaps</h2>{_table(summary.rate_gaps, _GAPS)}"
        f"<p>Rate card: {html.escape(str(p['rate_card']))}.</p>"
        "</body></html>\n"
    )


def write_report(source: str | Path | ReportSummary, path: str | Path) -> Path:
    """Write the HTML report to `path` (atomically).

    Args:
        source: The `analytics.duckdb` file, or a summary already read from it.
        path: Where the HTML goes.

    Returns:
        The path written.
    """
    summary = source if isinstance(source, ReportSummary) else read_summary(source)
    target = Path(path)
    _write_atomically(target, render_html(summary, report_charts(summary)))
    return target


def _write_atomically(target: Path, text: str) -> None:
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def build_report_files(
    sends: str | Path,
    events: str | Path,
    out: str | Path,
    *,
    rate_card: str | Path | None = None,
    settings: ReportSettings | None = None,
) -> ReportFiles:
    """The whole report without Prefect: database, Parquet tables and `out/report.html`.

    Args:
        sends: A sends Parquet file, a folder of them, or a glob.
        events: The landing folder.
        out: Output folder.
        rate_card: Rate card CSV; the bundled example when None.
        settings: Time and significance settings.

    Returns:
        The files written and the summary.
    """
    pages: list[str] = []
    build = build_analytics(
        sends,
        events,
        out,
        rate_card=rate_card,
        settings=settings,
        # The charts are drawn while the Parquet tables are written.
        on_summary=lambda summary: pages.append(render_html(summary, report_charts(summary))),
    )
    target = Path(out) / REPORT_NAME
    _write_atomically(target, pages[0])
    return ReportFiles(build=build, summary=build.summary, html=target)
