"""build_report: sends + landed webhook events + rate card → analytics.duckdb, Parquet, HTML.

Runs the SQL in `sql/` into a temporary DuckDB file and renames it into place as
`out/analytics.duckdb` (an analyst holding the old file open is not disturbed), exports every
table to `out/tables/<name>.parquet`, writes the self-contained `out/report.html`, and
publishes the funnel and the MM-versus-Cloud comparison as Prefect artifacts. Re-running on
the same inputs gives the same tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow

from mmapi.analytics import (
    DEFAULT_ATTRIBUTION_DAYS,
    DEFAULT_MIN_ARM_SIZE,
    DEFAULT_NO_WEBHOOK_AFTER_HOURS,
)
from tasks.report import (
    build_analytics_database,
    publish_report_artifacts,
    settings_dict,
    write_html_report,
)
from tasks.storage import use_aws_credentials_block


@flow(name="build_report", flow_run_name="build-report-{out}", log_prints=False)
def build_report(
    sends: str,
    events: str,
    out: str,
    rate_card: str | None = None,
    as_of: str | None = None,
    no_webhook_after_hours: float = DEFAULT_NO_WEBHOOK_AFTER_HOURS,
    attribution_days: int = DEFAULT_ATTRIBUTION_DAYS,
    min_arm_size: int = DEFAULT_MIN_ARM_SIZE,
    aws_credentials_block: str | None = None,
) -> dict[str, Any]:
    """Build the campaign report and return its summary.

    Args:
        sends: A sends Parquet file, a folder of campaign folders (`sends*.parquet`), or a glob;
            local or `s3://`.
        events: The landing folder (holding `events/<kind>/dt=.../*.parquet`), or its URL.
        out: Output folder for analytics.duckdb, tables/ and report.html, or an `s3://` URL
            (built in a local working folder, each file then uploaded as one object).
        rate_card: Rate card CSV, a path or `s3://`; the bundled example (example rates) when
            None.
        as_of: ISO time the report is as of (TTL expiry, overdue webhooks); the latest time in
            the inputs when None.
        no_webhook_after_hours: Accepted messages without a webhook this long are listed.
        attribution_days: Window attributing clicks and stops to a send.
        min_arm_size: Below this many accepted messages per arm the comparison is inconclusive.
        aws_credentials_block: A prefect-aws `AwsCredentials` block for `s3://` paths
            (default: the environment's AWS credentials).

    Returns:
        Paths, row counts, and the summary: funnel, cost comparison, reconciliation,
        rate-card gaps, click attribution counts.
    """
    use_aws_credentials_block(aws_credentials_block)
    settings = settings_dict(
        as_of=as_of,
        no_webhook_after_hours=no_webhook_after_hours,
        attribution_days=attribution_days,
        min_arm_size=min_arm_size,
    )
    built = build_analytics_database(sends, events, out, rate_card, settings)
    html = write_html_report(built["database"], out)
    summary = publish_report_artifacts(built["database"])
    return {**built, "html": html, "summary": summary}


if __name__ == "__main__":
    # A sandbox campaign: webhooks generated, landed, and a ledger made from the ground truth.
    from datetime import UTC, datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    from mmapi.landing import LandingConfig, land
    from mmapi.sandbox import SandboxConfig
    from mmapi.sandbox.generator import generate_webhook_files
    from mmapi.schemas import SENDS_SCHEMA

    folder = Path("demo_output/report_sandbox")
    config = SandboxConfig(seed=7, route_marketing_via_mm_on_messages=False)
    made = generate_webhook_files(folder / "raw", messages=20_000, config=config, mm_share=0.5)
    land(LandingConfig(source=str(folder / "raw"), out=folder / "lake"))
    rows = []
    for m in made.truth.snapshot()["messages"]:
        sent = datetime.fromtimestamp(m["accepted_at"], tz=UTC)
        rows.append(
            {
                "message_key": m["wamid"][-16:],
                "campaign_id": "sandbox",
                "recipient": m["wa_id"],
                "country": "DE",
                "arm": "mm" if m["endpoint"] == "marketing_messages" else "cloud",
                "template_name": m["template"],
                "language": m["language"],
                "state": "accepted",
                "wamid": m["wamid"],
                "message_status": m["message_status"],
                "attempts": 1,
                "ttl_seconds": m["ttl_seconds"],
                "planned_at": sent,
                "sent_at": sent,
                "finished_at": sent,
            }
        )
    pq.write_table(pa.Table.from_pylist(rows, schema=SENDS_SCHEMA), folder / "sends.parquet")
    result = build_report(
        sends=str(folder / "sends.parquet"), events=str(folder / "lake"), out=str(folder / "out")
    )
    print(result["html"])
