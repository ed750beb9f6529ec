"""The demo: the whole pipeline against the local sandbox, on a local Prefect server.

1. a demo warehouse (DuckDB, dirty rows included) and a campaign spec, 90% MM / 10% Cloud;
2. a local Prefect server (its own PREFECT_HOME under `.prefect/`, reused if already up), the
   webhook receiver and the sandbox, which posts signed webhooks to the receiver;
3. the three flows: `send_campaign`, then (after the sandbox has played out a week of
   deliveries, reads, clicks and opt-outs on its compressed clock) `land_webhooks` and
   `build_report`;
4. a summary: funnel and cost by arm, and where every output is.

Everything it started is stopped at the end unless `keep` is set.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from mmapi.audience import mask_url
from mmapi.receiver import ReceiverConfig, ReceiverServer
from mmapi.sandbox import SandboxConfig, SandboxServer

from .prefect_server import DEFAULT_PORT, LocalPrefectServer
from .warehouse import build_demo_warehouse, copy_customers_to, demo_campaign_spec

CAMPAIGN_ID = "demo-spring-sale"
MESSAGES_PER_SECOND = 1000.0
SANDBOX_LATENCY_MS = 20.0
# The sandbox's clock runs in real time while sending, so webhook times line up with the
# ledger's send times; its flush then plays out the following weeks at once.
TIME_COMPRESSION = 1.0
CONSOLE_WIDTH = 120
DEMO_RATE_CARD = Path(__file__).with_name("demo_rate_card.csv")
# Known secrets instead of random ones, when set (the secret audit test sets them).
SANDBOX_API_KEY_ENV = "SANDBOX_API_KEY"
WEBHOOK_SECRET_ENV = "MMFLOW_WEBHOOK_APP_SECRET"  # noqa: S105 - a variable name


def _step(console: Console, started: float, text: str) -> None:
    console.print(f"[dim]{time.monotonic() - started:5.1f}s[/dim] {text}")


def run_demo(
    out: Path,
    recipients: int,
    *,
    keep: bool = False,
    warehouse_url: str | None = None,
    prefect_port: int = DEFAULT_PORT,
) -> dict[str, Any]:
    """Run the demo and print its summary; returns the flows' summaries.

    Args:
        out: Folder for everything the demo writes.
        recipients: Customers in the demo warehouse.
        keep: Leave the Prefect server running afterwards.
        warehouse_url: Also copy the customers into this database (SQLAlchemy URL, e.g.
            Postgres) and send the campaign from there instead of the DuckDB file.
        prefect_port: Port of the local Prefect server (started unless one answers there).

    The sandbox's API key and the webhook app secret are `SANDBOX_API_KEY` and
    `MMFLOW_WEBHOOK_APP_SECRET` when set (to see where known secrets end up), else fresh
    random ones.
    """
    console = Console(width=CONSOLE_WIDTH)
    started = time.monotonic()
    out = out.resolve()
    # Prefect's INFO lines would bury the summary; the runs stay visible in the UI.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    warehouse = build_demo_warehouse(out / "warehouse.duckdb", rows=recipients)
    connection: str | Path = warehouse
    if warehouse_url:
        copy_customers_to(warehouse, warehouse_url)
        connection = warehouse_url
    spec = demo_campaign_spec(connection, CAMPAIGN_ID, messages_per_second=MESSAGES_PER_SECOND)
    spec_path = out / "spring_sale.yaml"
    spec_path.write_text(yaml.safe_dump(spec.model_dump(mode="json")), encoding="utf-8")
    source = mask_url(warehouse_url) if warehouse_url else warehouse
    _step(console, started, f"warehouse {source} ({recipients:,} customers), spec {spec_path}")
    webhook_secret = os.environ.get(WEBHOOK_SECRET_ENV) or secrets.token_hex(16)
    receiver_config = ReceiverConfig(directory=out / "raw", app_secret=webhook_secret)
    with (
        LocalPrefectServer(Path(".prefect"), port=prefect_port, keep=keep) as prefect_server,
        ReceiverServer(receiver_config) as receiver,
        SandboxServer(
            SandboxConfig(
                api_key=os.environ.get(SANDBOX_API_KEY_ENV) or secrets.token_hex(16),
                latency_ms=SANDBOX_LATENCY_MS,
                rate_limit_mps=MESSAGES_PER_SECOND,
                time_compression=TIME_COMPRESSION,
                webhook_url=receiver.webhook_url,
                webhook_secret=webhook_secret,
                # A clean Cloud arm, as DOMAIN.md advises asking 360dialog for: otherwise
                # marketing templates sent to /messages go out through MM too.
                route_marketing_via_mm_on_messages=False,
            )
        ) as sandbox,
    ):
        _step(
            console,
            started,
            f"Prefect server {prefect_server.ui_url}, sandbox {sandbox.url}, "
            f"receiver {receiver.webhook_url}",
        )
        os.environ["D360_API_KEY"] = sandbox.api_key
        os.environ["D360_BASE_URL"] = sandbox.url
        from flows.build_report import build_report
        from flows.land_webhooks import land_webhooks
        from flows.send_campaign import send_campaign

        _step(console, started, "send_campaign: extract, prepare, send (90% MM / 10% Cloud)")
        sent = asyncio.run(
            send_campaign(str(spec_path), out_dir=str(out / "campaigns"), ad_sync_wait_seconds=0)
        )
        if sent["task_runs"]:
            done = f"sent {sent['accepted']:,} messages at {sent['messages_per_second']:,.0f}/s"
        else:
            done = f"already sent ({sent['accepted']:,} accepted in the ledger), nothing new"
        _step(console, started, f"{done}; the sandbox plays out the following weeks")
        sandbox.flush()
        landed = land_webhooks(source=str(out / "raw"), out=str(out / "lake"))
        _step(
            console,
            started,
            f"land_webhooks: {landed['statuses']:,} statuses, "
            f"{landed['clicks']:,} clicks, {landed['preferences']:,} preferences",
        )
        report = build_report(
            sends=str(out / "campaigns"),
            events=str(out / "lake"),
            out=str(out / "report"),
            rate_card=str(DEMO_RATE_CARD),
        )
        _step(console, started, "build_report: analytics.duckdb, tables, HTML")
        _print_summary(console, out / "report" / "analytics.duckdb")
        console.print(f"warehouse:        {warehouse}")
        console.print(f"campaign outputs: {out / 'campaigns' / CAMPAIGN_ID}/")
        console.print(f"raw webhooks:     {out / 'raw'}/")
        console.print(f"landed events:    {out / 'lake' / 'events'}/")
        console.print(f"analytics:        {out / 'report' / 'analytics.duckdb'}")
        console.print(f"HTML report:      {out / 'report' / 'report.html'}")
        console.print(
            f"Prefect UI:       {prefect_server.ui_url}"
            + ("" if keep else " (stopped now; --keep leaves it running)")
        )
    _step(console, started, "done")
    return {"send": sent, "land": landed, "report": report}


def _print_summary(console: Console, database: Path) -> None:
    from mmapi.analytics import format_cell, read_summary

    summary = read_summary(database)
    costs = {(r["campaign_id"], r["arm"]): r for r in summary.cost_by_arm}
    table = Table(title=f"{CAMPAIGN_ID}: funnel and cost by arm")
    columns = (
        "arm",
        "accepted",
        "delivered",
        "read",
        "clicks",
        "failed",
        "delivery rate",
        "read rate",
        "cost",
        "cost / read",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for row in summary.funnel:
        cost = costs.get((row["campaign_id"], row["arm"]), {})
        table.add_row(
            row["arm"],
            format_cell(row["accepted"]),
            format_cell(row["delivered"]),
            format_cell(row["read"]),
            format_cell(row["clicks"]),
            format_cell(row["failed"]),
            format_cell(row["delivery_rate"], "pct"),
            format_cell(row["read_rate"], "pct"),
            format_cell(cost.get("cost"), "money"),
            format_cell(cost.get("cost_per_read"), "money"),
        )
    console.print(table)
    console.print("costs use made-up demo prices (mmflow/demo_rate_card.csv), not real rates")
