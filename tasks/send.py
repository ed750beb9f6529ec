"""Prefect tasks of the send flow: API key, template and TTL, ledger, reconciliation, chunks.

Tasks are thin: the logic is in `mmapi` (ledger, chunks, client). None of them caches: their
inputs include clients and connections, which must never be hashed.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr

from mmapi.audience.suppression import SuppressionList
from mmapi.campaign import CampaignSpec, SuppressionSpec
from mmapi.chunks import ChunkResult, send_chunk_messages
from mmapi.client import MMClient
from mmapi.errors import ConfigurationError, TTLValidationError
from mmapi.ledger import Ledger, StatusSighting
from mmapi.sender import SendOutcome
from mmapi.sql import load_sql
from mmapi.templates import CampaignTTL, TemplateInfo
from mmapi.throttle import RetryBudget

API_KEY_ENV = "D360_API_KEY"
DEFAULT_API_KEY_BLOCK = "d360-api-key"


def resolve_api_key(block_name: str | None) -> SecretStr:
    """The D360 API key: from a Prefect Secret block if one is named, else `D360_API_KEY`.

    Raises:
        ConfigurationError: neither source has a key.
    """
    if block_name:
        from prefect.blocks.system import Secret

        try:
            value = Secret.load(block_name).get()
        except ValueError as exc:
            raise ConfigurationError(f"Secret block {block_name!r} not found ({exc})") from None
        return SecretStr(str(value))
    value = os.environ.get(API_KEY_ENV, "").strip()
    if not value:
        raise ConfigurationError(
            f"no API key: set {API_KEY_ENV} or create a Prefect Secret block and pass its name "
            f"(e.g. {DEFAULT_API_KEY_BLOCK!r})"
        )
    return SecretStr(value)


@task(cache_policy=NO_CACHE)
async def check_template(
    spec: CampaignSpec, client: MMClient, ad_sync_wait_seconds: float
) -> tuple[TemplateInfo, CampaignTTL]:
    """Find the template, make its TTL the spec's (if asked and allowed), record the TTL in force.

    Raises:
        ConfigurationError: no such template, not a marketing template, not approved, or a
            TTL change is needed but the spec forbids changing templates.
    """
    logger = get_run_logger()
    try:
        template = await client.get_template(spec.template.name, spec.template.language)
    except LookupError as exc:
        raise ConfigurationError(str(exc)) from None
    if template.category.upper() != "MARKETING":
        raise ConfigurationError(
            f"template {template.name!r} is {template.category}: the MM API sends marketing "
            "templates only"
        )
    if template.status.upper() != "APPROVED":
        raise ConfigurationError(f"template {template.name!r} is {template.status}, not APPROVED")
    wanted = spec.ttl_seconds
    if wanted is not None and wanted != template.ttl_seconds:
        if not spec.allow_template_changes:
            raise ConfigurationError(
                f"template {template.name!r} has a TTL of {template.ttl_seconds} s but the spec "
                f"asks for {wanted} s; set allow_template_changes: true to let the flow change "
                "it, or change ttl_seconds"
            )
        logger.info("setting TTL of %s to %s s", template.name, wanted)
        try:
            await client.set_template_ttl(template, wanted)
        except TTLValidationError as exc:
            raise ConfigurationError(str(exc)) from None
        if ad_sync_wait_seconds > 0:
            # A changed template is in ad sync: sends would fail with 134101 meanwhile.
            logger.info("waiting %.0f s for the template's ad sync", ad_sync_wait_seconds)
            await asyncio.sleep(ad_sync_wait_seconds)
        template = await client.get_template(spec.template.name, spec.template.language)
    ttl = CampaignTTL.from_template(template, recorded_at=datetime.now(UTC))
    logger.info(
        "template %s (%s): TTL in force %s s (%s)",
        template.name,
        template.language,
        ttl.ttl_seconds,
        ttl.source,
    )
    return template, ttl


@task(cache_policy=NO_CACHE)
def plan_ledger(
    spec: CampaignSpec, plan_path: Path, ledger: Ledger, chunk_size: int, ttl_seconds: int | None
) -> dict[str, int]:
    """Insert the plan into the ledger (new messages only) and reopen unfinished chunks."""
    plan = pq.read_table(
        plan_path,
        columns=[
            "message_key",
            "campaign_id",
            "recipient",
            "country",
            "arm",
            "template_name",
            "language",
        ],
    )
    new = ledger.plan(plan, chunk_size=chunk_size, ttl_seconds=ttl_seconds)
    reopened = ledger.reopen_chunks(spec.campaign_id)
    get_run_logger().info("ledger: %s new messages planned, %s chunks reopened", new, reopened)
    return {"planned_new": new, "chunks_reopened": reopened, "rows": plan.num_rows}


@task(cache_policy=NO_CACHE)
def suppress_late_opt_outs(
    spec: CampaignSpec, ledger: Ledger, events_dir: Path | None = None
) -> int:
    """On a resume: messages still planned whose recipient has since opted out are not sent.

    The plan applied suppression when it was made; stops (and 131050 failures) landed since
    then end those messages `rejected` with the reason, before anything else is sent.

    Args:
        spec: The campaign.
        ledger: Its ledger.
        events_dir: Landed events (default: the spec's `suppression.events_dir`).

    Returns:
        How many planned messages were suppressed.
    """
    folder = events_dir or spec.suppression.events_dir
    if folder is None:
        return 0
    suppression = SuppressionList.load(
        SuppressionSpec(events_dir=str(folder)), default_region=spec.default_region
    )
    planned = ledger.planned_recipients(spec.campaign_id)
    reasons = suppression.reasons_for(planned["recipient"].combine_chunks())
    keep = reasons.is_valid()
    late = dict(
        zip(
            planned["message_key"].filter(keep).to_pylist(),
            reasons.filter(keep).to_pylist(),
            strict=True,
        )
    )
    suppressed = ledger.suppress_planned(late)
    if suppressed:
        get_run_logger().info(
            "%s planned messages suppressed: opted out since planning", suppressed
        )
    return suppressed


@task(cache_policy=NO_CACHE)
def reconcile_unknown(
    spec: CampaignSpec, ledger: Ledger, events_dir: Path | None, grace_seconds: float
) -> dict[str, int]:
    """Turn what a dead run left `in_flight` into `unknown`, then settle those from webhooks."""
    logger = get_run_logger()
    left = ledger.in_flight_to_unknown(spec.campaign_id)
    unknown = ledger.unknown(spec.campaign_id)
    if not unknown:
        return {"left_in_flight": left, "accepted": 0, "replanned": 0, "still_unknown": 0}
    sightings: list[StatusSighting] = []
    landed_until: float | None = None
    statuses = events_dir / "statuses" if events_dir else None
    if statuses is not None and any(statuses.rglob("*.parquet")):
        with duckdb.connect() as db:
            # A view cannot take a prepared parameter: the relation API builds it instead.
            db.read_parquet(str(statuses / "**" / "*.parquet"), hive_partitioning=True).create_view(
                "statuses"
            )
            recipients = pa.table({"recipient": [row["recipient"] for row in unknown]})
            db.register("unknown_recipients", recipients)
            for recipient, wamid, ts in db.execute(load_sql("status_sightings")).fetchall():
                sightings.append(StatusSighting(recipient=recipient, wamid=wamid, ts=float(ts)))
            (latest,) = db.execute("SELECT max(epoch(ts)) FROM statuses").fetchone()
            landed_until = float(latest) if latest is not None else None
    counts = ledger.reconcile_unknown(
        spec.campaign_id, sightings, landed_until=landed_until, grace_seconds=grace_seconds
    )
    logger.info("reconciled %s unknown sends: %s", len(unknown), counts)
    return {"left_in_flight": left, **counts}


@task(cache_policy=NO_CACHE, task_run_name="send-chunk-{chunk}")
async def send_chunk(
    spec: CampaignSpec,
    ledger: Ledger,
    client: MMClient,
    chunk: int,
    plan_rows: pa.Table,
    retry_budget: RetryBudget,
    progress: Any = None,
) -> ChunkResult:
    """Send one chunk (thousands of messages) with the ledger written around each request."""
    logger = get_run_logger()

    def on_outcome(outcome: SendOutcome) -> None:
        if progress is not None:
            progress(outcome)

    result = await send_chunk_messages(
        spec=spec,
        ledger=ledger,
        client=client,
        chunk=chunk,
        plan_rows=plan_rows,
        retry_budget=retry_budget,
        on_outcome=on_outcome,
    )
    logger.info(
        "chunk %s: %s in %.1f s%s",
        chunk,
        result.counts,
        result.elapsed_seconds,
        f"; stopped: {result.stopped_reason}" if result.stopped_reason else "",
    )
    return result


@task(cache_policy=NO_CACHE)
def export_sends(spec: CampaignSpec, ledger: Ledger, out: Path) -> dict[str, Any]:
    """Write sends.parquet atomically and publish counts by arm and error code."""
    table = ledger.export(spec.campaign_id)
    path = out / "sends.parquet"
    # Workers of one campaign may export at once: each writes its own temporary file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, temporary)
    temporary.replace(path)
    with duckdb.connect() as db:
        db.register("sends", table)
        by_arm = db.execute(
            "SELECT arm, state, count(*) AS messages FROM sends GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        by_error = db.execute(
            "SELECT error_code, any_value(error_title) AS title, count(*) AS messages FROM sends "
            "WHERE error_code IS NOT NULL GROUP BY error_code ORDER BY messages DESC"
        ).fetchall()
    create_table_artifact(
        key=f"sends-{spec.campaign_id.lower().replace('_', '-').replace('.', '-')}",
        table=[{"arm": a, "state": s, "messages": n} for a, s, n in by_arm]
        + [{"arm": "error", "state": f"{c} {t}", "messages": n} for c, t, n in by_error],
        description=f"Send results of campaign {spec.campaign_id}",
    )
    return {"path": str(path), "rows": table.num_rows}
