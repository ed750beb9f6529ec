"""A campaign whose output folder is on an object store (moto's S3), stopped and resumed."""

from __future__ import annotations

import io
import logging
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from flows.send_campaign import send_campaign
from mmapi.errors import ConfigurationError
from mmapi.sandbox import SandboxConfig, SandboxServer
from mmapi.schemas import TIMESTAMP
from mmflow.warehouse import build_demo_warehouse, demo_campaign_spec
from tests.secret_scan import format_hits

pytestmark = pytest.mark.usefixtures("prefect_harness")

CAMPAIGN = "campaigns/demo-spring-sale"


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(latency_ms=5)) as server:
        monkeypatch.setenv("D360_API_KEY", server.api_key)
        monkeypatch.setenv("D360_BASE_URL", server.url)
        yield server


def _sends(bucket) -> list[dict]:
    data = bucket.objects()[f"{CAMPAIGN}/sends.parquet"]
    return pq.read_table(io.BytesIO(data)).to_pylist()


async def test_a_campaign_with_its_outputs_on_s3_resumes_from_them(
    bucket,
    tmp_path: Path,
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture,
):
    caplog.set_level(logging.INFO)
    warehouse = build_demo_warehouse(tmp_path / "wh.duckdb", rows=400)
    spec = demo_campaign_spec(warehouse, messages_per_second=1000, product_policy="STRICT")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec.model_dump(mode="json")), encoding="utf-8")
    out = f"{bucket.url}/campaigns"
    sandbox.update_config(onboarded=False)  # stops the MM arm early: the rest stays planned

    stopped_run = await send_campaign(
        str(spec_path), out_dir=out, chunk_size=100, return_state=True
    )

    assert stopped_run.is_failed()
    assert {key for key in bucket.objects() if key.startswith(CAMPAIGN)} == {
        f"{CAMPAIGN}/{name}"
        for name in (
            "audience.parquet",
            "plan.parquet",
            "rejects.parquet",
            "campaign.json",
            "sends.parquet",
        )
    }
    planned = [row["recipient"] for row in _sends(bucket) if row["state"] == "planned"]
    assert planned
    # Three of them answer STOP before the resume; the landed events are on the store too.
    stopped = planned[:3]
    stops = pa.table(
        {
            "wa_id": stopped,
            "value": ["stop"] * 3,
            "ts": pa.array([datetime.now(UTC)] * 3, TIMESTAMP),
        }
    )
    fs = bucket.fs
    with fs.open(f"{bucket.name}/lake/events/preferences/dt=2026-11-27/x.parquet", "wb") as f:
        pq.write_table(stops, f)
    sandbox.update_config(onboarded=True)

    await send_campaign(
        str(spec_path), out_dir=out, chunk_size=100, events_dir=f"{bucket.url}/lake/events"
    )

    truth = sandbox.ground_truth()["messages"]
    sent_to = Counter(m["to"] for m in truth)
    assert max(sent_to.values()) == 1
    assert set(sent_to).isdisjoint(stopped)
    final = {row["recipient"]: row for row in _sends(bucket)}
    assert set(final) == set(sent_to) | set(stopped)
    assert Counter(row["state"] for row in final.values()) == {
        "accepted": len(truth),
        "rejected": 3,
    }

    # Without this machine's working folder (and the SQLite ledger in it), the plan on the
    # store cannot be resumed: planning again could send its messages twice.
    shutil.rmtree(bucket.work / "s3")
    with pytest.raises(ConfigurationError, match="resume it where it was planned"):
        await send_campaign(str(spec_path), out_dir=out, chunk_size=100)
    with pytest.raises(ConfigurationError, match="resume it where it was planned"):
        await send_campaign(str(spec_path), out_dir=out, chunk_size=100)
    assert len(sandbox.ground_truth()["messages"]) == len(truth)
    captured = capfd.readouterr()
    hits = bucket.credential_hits(tmp_path / "scan", caplog.text, captured.out, captured.err)
    assert not hits, format_hits(hits)
