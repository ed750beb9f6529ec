"""land_webhooks: raw webhook files (receiver segments, exports) → Parquet event tables.

Reads what is new under `source` (a folder, glob or URL: the receiver's NDJSON segments, or
exports as NDJSON, JSON documents or gzip), flattens it with DuckDB (`sql/landing/`), drops
duplicates, and writes `out/events/{statuses,clicks,preferences,account_updates,quarantine}/
dt=YYYY-MM-DD/*.parquet`. Incremental and idempotent: schedule it every few minutes; a run
lands each segment up to its last complete line, and a re-run adds nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from mmapi.landing import DEFAULT_MEMORY_LIMIT, DEFAULT_SETTLE_SECONDS, LandingConfig
from tasks.land import find_new_webhook_files, land_webhook_files, publish_landing_summary
from tasks.storage import use_aws_credentials_block

DEFAULT_BATCH_MB = 512


@flow(name="land_webhooks", flow_run_name="land-webhooks-{out}", log_prints=False)
def land_webhooks(
    source: str,
    out: str,
    batch_mb: int = DEFAULT_BATCH_MB,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    aws_credentials_block: str | None = None,
) -> dict[str, Any]:
    """Land new raw webhooks into `out/events/` and return the run's summary.

    Args:
        source: A folder, glob or URL (`s3://bucket/raw/`) of raw webhook files.
        out: Output folder or `s3://` URL (events go to `out/events/<table>/dt=YYYY-MM-DD/`;
            an object store is written through a local working folder, `mmapi.storage`).
        batch_mb: Raw megabytes read per batch (each batch is written and recorded whole).
        memory_limit: DuckDB's memory limit (it spills to disk past it).
        settle_seconds: A file unchanged this long counts as finished (its last line lands
            even without a newline).
        aws_credentials_block: A prefect-aws `AwsCredentials` block for `s3://` paths
            (default: the environment's AWS credentials).

    Returns:
        Counts of files, bytes, rows landed per table and lines quarantined.
    """
    logger = get_run_logger()
    use_aws_credentials_block(aws_credentials_block)
    config = LandingConfig(
        source=source,
        out=out,
        batch_bytes=batch_mb << 20,
        memory_limit=memory_limit,
        settle_seconds=settle_seconds,
    )
    pending = find_new_webhook_files(config)
    if not pending:
        logger.info("nothing new under %s", source)
    summary = land_webhook_files(config)
    publish_landing_summary(summary, out)
    return summary


if __name__ == "__main__":
    from mmapi.sandbox.generator import generate_webhook_files

    generate_webhook_files(Path("demo_output/raw"), messages=20_000, seed=7)
    print(land_webhooks(source="demo_output/raw", out="demo_output"))
