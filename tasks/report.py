"""Prefect tasks of the report: thin wrappers around `mmapi.analytics`.

The work (the SQL into `analytics.duckdb`, the Parquet exports, the charts and HTML) is in
`mmapi.analytics`, which never imports Prefect. These tasks pass plain data between them and
publish the funnel and the MM-versus-Cloud comparison as artifacts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from mmapi import storage
from mmapi.analytics import (
    REPORT_NAME,
    ReportSettings,
    build_analytics,
    cost_markdown,
    funnel_markdown,
    read_summary,
    write_report,
)
from mmapi.analytics.build import DATABASE_NAME
from tasks.logs import task_logger

__all__ = [
    "COST_ARTIFACT_KEY",
    "FUNNEL_ARTIFACT_KEY",
    "build_analytics_database",
    "publish_report_artifacts",
    "settings_dict",
    "write_html_report",
]

FUNNEL_ARTIFACT_KEY = "report-funnel"
COST_ARTIFACT_KEY = "report-cost-comparison"
# Columns of the funnel table artifact, in order.
_FUNNEL_COLUMNS = (
    "campaign_id",
    "arm",
    "accepted",
    "delivered",
    "read",
    "clicks",
    "failed",
    "expired",
    "pending",
    "delivery_rate",
    "read_rate",
    "click_rate",
)


@task(name="build_analytics_database", cache_policy=NO_CACHE)
def build_analytics_database(
    sends: str,
    events: str,
    out: str,
    rate_card: str | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build `out/analytics.duckdb` and `out/tables/*.parquet`.

    Args:
        sends: A sends Parquet file, a folder of them, or a glob.
        events: The landing folder.
        out: Output folder.
        rate_card: Rate card CSV, a path or `s3://`; the bundled example when None.
        settings: `ReportSettings` fields (as_of, windows, min_arm_size, ...).

    Returns:
        `location` (the database's path or URL), `database` (the local file: the working
        folder's copy for an object store), `tables` (name to local Parquet path),
        `row_counts`, `as_of` (ISO), `files`.
    """
    build = build_analytics(
        sends, events, out, rate_card=rate_card, settings=ReportSettings(**(settings or {}))
    )
    task_logger(__name__).info(
        "built %s as of %s: %s; seconds per step: %s",
        build.database,
        build.as_of.isoformat(),
        build.row_counts,
        build.step_seconds,
    )
    return {
        "location": str(storage.join(out, DATABASE_NAME)),
        "database": str(build.database),
        "tables": {name: str(path) for name, path in build.tables.items()},
        "row_counts": build.row_counts,
        "as_of": build.as_of.isoformat(),
        "files": build.files.counts(),
    }


@task(name="write_html_report", cache_policy=NO_CACHE)
def write_html_report(database: str, out: str) -> str:
    """Write `out/report.html` (charts embedded) from a built database; returns its path or URL.

    An object store `out` gets the file written in its working folder, then uploaded whole.
    """
    path = write_report(database, storage.working_folder(out) / REPORT_NAME)
    location = storage.join(out, REPORT_NAME)
    if storage.is_url(out):
        storage.upload(path, str(location))
    task_logger(__name__).info("report written to %s", location)
    return str(location)


def _cell(value: Any) -> Any:
    # Artifacts are JSON: rates rounded for reading, everything else as it is.
    return round(value, 4) if isinstance(value, float) else value


@task(name="publish_report_artifacts", cache_policy=NO_CACHE)
def publish_report_artifacts(database: str) -> dict[str, Any]:
    """Publish the funnel (table and markdown) and the cost comparison (markdown).

    Args:
        database: The built `analytics.duckdb`.

    Returns:
        The report's summary as plain data (`ReportSummary.to_dict`).
    """
    summary = read_summary(database)
    as_of = summary.as_of
    create_table_artifact(
        [{column: _cell(row[column]) for column in _FUNNEL_COLUMNS} for row in summary.funnel],
        key=FUNNEL_ARTIFACT_KEY,
        description=f"Funnel per campaign and arm, as of {as_of:%Y-%m-%d %H:%M} UTC",
    )
    create_markdown_artifact(
        funnel_markdown(summary) + "\n" + cost_markdown(summary),
        key=COST_ARTIFACT_KEY,
        description=f"Funnel and MM-versus-Cloud cost comparison, as of {as_of:%Y-%m-%d}",
    )
    return summary.to_dict()


def settings_dict(
    *,
    as_of: str | None,
    no_webhook_after_hours: float,
    attribution_days: int,
    min_arm_size: int,
) -> dict[str, Any]:
    """`ReportSettings` fields from flow parameters (as_of as ISO text); checked here."""
    values: dict[str, Any] = {
        "no_webhook_after_hours": no_webhook_after_hours,
        "attribution_days": attribution_days,
        "min_arm_size": min_arm_size,
    }
    if as_of:
        values["as_of"] = datetime.fromisoformat(as_of)
    ReportSettings(**values)  # fails here, with the field named, before any work
    return values
