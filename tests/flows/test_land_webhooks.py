"""The land_webhooks flow and its tasks, on webhooks made by the sandbox's generator."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest
from prefect.client.orchestration import get_client
from prefect.states import Completed, Failed

from flows.land_webhooks import land_webhooks
from mmapi.landing import LandingConfig
from mmapi.sandbox.generator import generate_webhook_files
from tasks.land import (
    ARTIFACT_KEY,
    _worth_a_retry,
    find_new_webhook_files,
    land_webhook_files,
)

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    folder = tmp_path_factory.mktemp("raw")
    made = generate_webhook_files(folder, messages=800, seed=3, lines_per_file=200)
    distinct = {
        (event["wamid"], event["status"])
        for event in (made.truth.event_record(n) for n in range(made.truth.event_count))
        if event["kind"] == "status"
    }
    return folder, len(distinct)


def test_find_new_webhook_files_lists_what_is_not_landed(raw, tmp_path: Path):
    folder, _ = raw
    config = LandingConfig(source=str(folder), out=tmp_path)

    pending = find_new_webhook_files.fn(config)

    assert len(pending) >= 2
    assert {item["from_offset"] for item in pending} == {0}
    assert all(item["kind"] == "ndjson" for item in pending)


def test_land_webhook_files_task_lands_and_is_idempotent(raw, tmp_path: Path):
    folder, distinct = raw
    config = LandingConfig(source=str(folder), out=tmp_path)

    first = land_webhook_files.fn(config)
    second = land_webhook_files.fn(config)

    assert first["statuses"] == distinct
    assert first["quarantined"] == 0
    assert (second["files_read"], second["statuses"]) == (0, 0)


def test_retry_only_errors_a_retry_can_fix():
    def failed(exc: Exception):
        return Failed(data=exc)

    assert _worth_a_retry(None, None, failed(OSError(5, "Input/output error"))) is True
    assert _worth_a_retry(None, None, failed(FileNotFoundError("raw"))) is False
    assert _worth_a_retry(None, None, failed(BlockingIOError("locked"))) is False
    assert _worth_a_retry(None, None, Completed()) is False


async def test_land_webhooks_flow_lands_reports_and_publishes_an_artifact(raw, tmp_path: Path):
    folder, distinct = raw
    out = tmp_path / "lake"

    summary = land_webhooks(source=str(folder), out=str(out))
    again = land_webhooks(source=str(folder), out=str(out))

    statuses = ds.dataset(out / "events" / "statuses", partitioning="hive").count_rows()
    assert summary["statuses"] == statuses == distinct
    assert summary["clicks"] > 0
    assert summary["quarantined"] == 0
    assert again["statuses"] == 0
    assert again["files_read"] == 0
    async with get_client() as client:
        artifact = await client.read_latest_artifacts()
    table = [item for item in artifact if item.key == ARTIFACT_KEY]
    assert table
    assert "statuses" in str(table[0].data)


def test_land_webhooks_flow_fails_on_a_missing_source(tmp_path: Path):
    state = land_webhooks(source=str(tmp_path / "nowhere"), out=str(tmp_path), return_state=True)

    assert state.is_failed()
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        state.result()
