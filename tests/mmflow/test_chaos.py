"""The short chaos run (what `make chaos` does, small): a campaign end to end while the send
flow and the receiver are SIGKILLed, the sandbox injects faults and 130429 storms, and the
result is scored against the sandbox's ground truth. It runs with known secrets, and none of
them may appear in anything it produced."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import prefect.settings
import pytest

from mmflow.chaos import run_chaos, short_chaos_settings
from tests.secret_scan import Hit, SecretScanner, format_hits

pytestmark = pytest.mark.usefixtures("prefect_harness")


async def _scan_prefect(scanner: SecretScanner) -> list[Hit]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return await scanner.scan_prefect(client)


def test_short_chaos_run_loses_and_doubles_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    secrets = {
        "api_key": f"chaos-api-key-{uuid.uuid4().hex}",
        "webhook_secret": f"chaos-webhook-secret-{uuid.uuid4().hex}",
    }
    settings = short_chaos_settings(**secrets)
    out = tmp_path / "chaos"
    result = run_chaos(out, settings, prefect_api_url=str(prefect.settings.PREFECT_API_URL.value()))
    summary = {k: v for k, v in result.items() if k != "report_cells"}

    # The faults happened.
    assert result["flow_kills"] >= settings.flow_kills, summary
    assert result["receiver_kills"] >= settings.receiver_kills, summary
    assert result["storms"] == 1 + settings.bursts, summary
    faults = result["faults"]
    assert faults.get("storm_130429", 0) > 0, summary
    assert faults.get("http_500", 0) > 0, summary
    assert faults.get("accept_then_drop", 0) > 0, summary
    assert result["webhook_retries"] > 0, summary  # the receiver was down while posting
    assert result["webhook_redelivered_bodies"] > 0, summary
    assert result["webhook_duplicate_events"] > 0, summary

    # Nothing lost, nothing doubled, the report equals the truth.
    assert result["planned"] > 0.8 * settings.recipients, summary
    assert result["sent_twice"] == 0, summary
    assert result["never_sent"] == 0, summary
    assert result["sent_outside_plan"] == result["wrong_endpoint"] == 0, summary
    assert result["acked_missing"] == 0, summary
    assert result["landed_twice"] == 0, summary
    assert result["acked_events"] > result["planned"], summary
    assert result["report_mismatches"] == 0, result["report_cells"]
    assert result["report_wrong_status"] == result["report_missing_messages"] == 0, summary
    assert result["webhook_failed_bodies"] == 0, summary
    assert result["final_ledger"] == {"accepted": result["planned"]}, summary

    # Retries stayed within the budget, and the storm was answered by slowing down.
    assert result["within_retry_budget"], summary
    assert result["retries_per_message"] > 0, summary
    assert result["ok"], summary

    # No secret in the outputs (Parquet, DuckDB, ledger, raw webhooks, logs of every run),
    # in what the run printed, or in Prefect's logs, artifacts and runs.
    captured = capfd.readouterr()
    scanner = SecretScanner(secrets)
    assert list(out.rglob("*.parquet"))
    assert list((out / "logs").glob("run-*.log"))
    hits = scanner.scan_tree(out)
    hits += scanner.scan_text("chaos stdout", captured.out)
    hits += scanner.scan_text("chaos stderr", captured.err)
    hits += asyncio.run(_scan_prefect(scanner))
    assert not hits, format_hits(hits)
