"""Prefect tasks of the landing: thin wrappers around `mmapi.landing`.

The work (finding what is new, reading it with DuckDB, writing Parquet, the manifest) is in
`mmapi.landing`, which never imports Prefect. These tasks only pass the run logger in for
progress, decide what is worth a retry, and publish the summary as an artifact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from mmapi.landing import LandingConfig, find_sources, land, pending_sources
from mmapi.landing.remote import load_manifest
from tasks.logs import task_logger

__all__ = ["find_new_webhook_files", "land_webhook_files", "publish_landing_summary"]

ARTIFACT_KEY = "land-webhooks"
# Errors no retry can fix: a missing source, bad settings, or another run holding the lock.
_FINAL_ERRORS = (FileNotFoundError, BlockingIOError, ValueError)


def _worth_a_retry(task: Any, task_run: TaskRun, state: State) -> bool:
    """Retry I/O hiccups (a disk, a remote store), not errors a retry would repeat."""
    if not state.is_failed():
        return False
    try:
        state.result()
    except _FINAL_ERRORS:
        return False
    except Exception:  # anything else may be transient
        return True
    return False


@task(name="find_new_webhook_files", cache_policy=NO_CACHE)
def find_new_webhook_files(config: LandingConfig) -> list[dict[str, Any]]:
    """The raw files with something not landed yet, and where their new part starts.

    Args:
        config: Source and output folder.

    Returns:
        One dict per file: `file`, `kind`, `size`, `from_offset`.
    """
    _, sources = find_sources(config.source, config.patterns)
    manifest = load_manifest(config.out)
    pending = pending_sources(sources, manifest)
    task_logger(__name__).info(
        "%d files under %s, %d with something new", len(sources), config.source, len(pending)
    )
    return [
        {"file": source.uri, "kind": source.kind, "size": source.size, "from_offset": start}
        for source, start in pending
    ]


@task(
    name="land_webhook_files",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=_worth_a_retry,
)
def land_webhook_files(config: LandingConfig) -> dict[str, Any]:
    """Land what is new under the source; safe to retry (the manifest and dedupe make it so).

    Args:
        config: Source, output folder and limits.

    Returns:
        The run's summary (`mmapi.landing.LandingSummary.as_dict`).
    """
    logger = task_logger(__name__)
    summary = land(config, progress=logger.info).as_dict()
    logger.info("landed: %s", summary)
    return summary


@task(name="publish_landing_summary", cache_policy=NO_CACHE)
def publish_landing_summary(summary: dict[str, Any], out: str | Path) -> str:
    """Publish the summary as a table artifact (one row per landed table).

    Args:
        summary: What `land_webhook_files` returned.
        out: The output folder (named in the description).

    Returns:
        The artifact's key.
    """
    rows = [
        {"table": table, "rows_landed": summary[table]}
        for table in ("statuses", "clicks", "preferences", "account_updates", "quarantined")
    ]
    description = (
        f"Landing `{summary['run_id']}` into `{out}/events`: {summary['files_read']} files, "
        f"{summary['bytes_read']:,} bytes in {summary['seconds']} s"
    )
    create_table_artifact(table=rows, key=ARTIFACT_KEY, description=description)
    return ARTIFACT_KEY
