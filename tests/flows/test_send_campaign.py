"""The send_campaign flow end to end against the sandbox, scored by its ground truth."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from flows.send_campaign import send_campaign
from mmapi.errors import ConfigurationError, SpecError
from mmapi.sandbox import SandboxConfig, SandboxServer
from mmapi.schemas import SENDS_SCHEMA, TIMESTAMP
from mmflow.warehouse import build_demo_warehouse, demo_campaign_spec

pytestmark = pytest.mark.usefixtures("prefect_harness")

ROWS = 1500


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_warehouse(tmp_path_factory.mktemp("warehouse") / "wh.duckdb", rows=ROWS)


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(latency_ms=5)) as server:
        monkeypatch.setenv("D360_API_KEY", server.api_key)
        monkeypatch.setenv("D360_BASE_URL", server.url)
        yield server


def _spec_file(folder: Path, warehouse: Path, **fields) -> Path:
    fields.setdefault("messages_per_second", 1000)
    spec = demo_campaign_spec(warehouse, **fields)
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json")), encoding="utf-8")
    return path


async def test_send_campaign_sends_every_planned_message_once(
    tmp_path: Path, warehouse: Path, sandbox: SandboxServer
):
    spec = _spec_file(tmp_path, warehouse)
    out = tmp_path / "campaigns"
    summary = await send_campaign(str(spec), out_dir=str(out), chunk_size=500)
    campaign = out / "demo-spring-sale"
    plan = pq.read_table(campaign / "plan.parquet")
    sends = pq.read_table(campaign / "sends.parquet")
    truth = sandbox.ground_truth()["messages"]
    assert summary["accepted"] == plan.num_rows == len(truth)
    assert summary["task_runs"] == -(-plan.num_rows // 500)
    assert sends.schema == SENDS_SCHEMA
    assert Counter(sends["state"].to_pylist()) == {"accepted": plan.num_rows}
    assert set(sends["wamid"].to_pylist()) == {m["wamid"] for m in truth}
    sent_to = Counter(m["to"] for m in truth)
    assert max(sent_to.values()) == 1
    assert set(sent_to) == set(plan["recipient"].to_pylist())
    arms = Counter(plan["arm"].to_pylist())
    endpoints = Counter(m["endpoint"] for m in truth)
    assert endpoints == {"marketing_messages": arms["mm"], "messages": arms["cloud"]}
    assert (campaign / "rejects.parquet").exists()
    assert (campaign / "campaign.json").exists()

    # A re-run of the same spec resumes: nothing is left, so nothing more is sent.
    again = await send_campaign(str(spec), out_dir=str(out), chunk_size=500)
    assert again["accepted"] == plan.num_rows
    assert again["task_runs"] == 0
    assert len(sandbox.ground_truth()["messages"]) == plan.num_rows


async def test_send_campaign_dry_run_sends_nothing(
    tmp_path: Path, warehouse: Path, sandbox: SandboxServer
):
    spec = _spec_file(tmp_path, warehouse, dry_run=True)
    summary = await send_campaign(str(spec), out_dir=str(tmp_path / "campaigns"))
    assert summary["dry_run"] is True
    assert summary["planned"] > 0
    assert (tmp_path / "campaigns" / "demo-spring-sale" / "plan.parquet").exists()
    assert sandbox.ground_truth()["messages"] == []


async def test_send_campaign_without_key_stops_before_sending(
    tmp_path: Path, warehouse: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("D360_API_KEY")
    spec = _spec_file(tmp_path, warehouse)
    with pytest.raises(ConfigurationError, match="D360_API_KEY"):
        await send_campaign(str(spec), out_dir=str(tmp_path / "campaigns"))
    assert sandbox.ground_truth()["messages"] == []


async def test_send_campaign_stopped_by_the_api_keeps_the_rest_planned(
    tmp_path: Path, warehouse: Path, sandbox: SandboxServer
):
    # The WABA has not accepted the MM terms: a STRICT send is refused with 134102, which
    # stops the campaign (DOMAIN.md): nothing more is sent and the rest stays planned.
    sandbox.update_config(onboarded=False)
    spec = _spec_file(tmp_path, warehouse, product_policy="STRICT")
    out = tmp_path / "campaigns"
    state = await send_campaign(str(spec), out_dir=str(out), chunk_size=300, return_state=True)
    assert state.is_failed()
    assert "134102" in state.message
    sends = pq.read_table(out / "demo-spring-sale" / "sends.parquet").to_pylist()
    states = Counter(row["state"] for row in sends)
    assert states["planned"] > 0
    assert states["rejected"] == 0
    truth = sandbox.ground_truth()["messages"]
    assert states.get("accepted", 0) == len(truth)
    assert all(m["endpoint"] == "messages" for m in truth)


async def test_a_resumed_campaign_keeps_its_first_plan(
    tmp_path: Path, warehouse: Path, sandbox: SandboxServer
):
    own_warehouse = tmp_path / "wh.duckdb"
    shutil.copy(warehouse, own_warehouse)
    spec = _spec_file(tmp_path, own_warehouse)
    out = tmp_path / "campaigns"
    first = await send_campaign(str(spec), out_dir=str(out), chunk_size=500)
    plan = pq.read_table(out / "demo-spring-sale" / "plan.parquet")

    # The segment changes after the campaign was planned: a resume must not pick that up.
    with duckdb.connect(str(own_warehouse)) as db:
        db.execute("DELETE FROM customers WHERE customer_id % 2 = 0")
    faster = _spec_file(tmp_path, own_warehouse, messages_per_second=500)
    again = await send_campaign(str(faster), out_dir=str(out), chunk_size=500)

    assert again["accepted"] == first["accepted"] == plan.num_rows
    assert again["task_runs"] == 0
    assert pq.read_table(out / "demo-spring-sale" / "plan.parquet").equals(plan)
    assert len(sandbox.ground_truth()["messages"]) == plan.num_rows


async def test_a_resumed_campaign_refuses_a_spec_that_changes_its_messages(
    tmp_path: Path, warehouse: Path, sandbox: SandboxServer
):
    sandbox.update_config(onboarded=False)  # stops the campaign early, leaving it resumable
    spec = _spec_file(tmp_path, warehouse, product_policy="STRICT")
    out = tmp_path / "campaigns"
    await send_campaign(str(spec), out_dir=str(out), chunk_size=300, return_state=True)
    sent = len(sandbox.ground_truth()["messages"])

    changed = _spec_file(tmp_path, warehouse, product_policy="CLOUD_API_FALLBACK")
    with pytest.raises(SpecError, match=r"different product_policy.*another campaign_id"):
        await send_campaign(str(changed), out_dir=str(out), chunk_size=300)
    assert len(sandbox.ground_truth()["messages"]) == sent


async def test_several_workers_need_a_deployment_and_a_shared_ledger(
    tmp_path: Path, warehouse: Path, sandbox: SandboxServer
):
    spec = _spec_file(tmp_path, warehouse)
    with pytest.raises(ConfigurationError, match="needs a deployment run"):
        await send_campaign(str(spec), out_dir=str(tmp_path / "campaigns"), workers=3)
    assert sandbox.ground_truth()["messages"] == []


async def test_a_resumed_campaign_skips_those_who_opted_out_since_it_was_planned(
    tmp_path: Path, warehouse: Path, sandbox: SandboxServer
):
    sandbox.update_config(onboarded=False)  # stops the MM arm early: the rest stays planned
    spec = _spec_file(tmp_path, warehouse, product_policy="STRICT")
    out, events = tmp_path / "campaigns", tmp_path / "events"
    await send_campaign(str(spec), out_dir=str(out), chunk_size=300, return_state=True)
    sends = pq.read_table(out / "demo-spring-sale" / "sends.parquet").to_pylist()
    planned = [row["recipient"] for row in sends if row["state"] == "planned"]
    stopped = planned[:3]  # they answer STOP before the campaign resumes
    folder = events / "preferences" / "dt=2026-11-27"
    folder.mkdir(parents=True)
    stops = {
        "wa_id": stopped,
        "value": ["stop"] * len(stopped),
        "ts": pa.array([datetime.now(UTC)] * len(stopped), TIMESTAMP),
    }
    pq.write_table(pa.table(stops), folder / "stops.parquet")

    sandbox.update_config(onboarded=True)
    await send_campaign(str(spec), out_dir=str(out), chunk_size=300, events_dir=str(events))

    sent_to = {m["to"] for m in sandbox.ground_truth()["messages"]}
    assert sent_to.isdisjoint(stopped)
    assert set(planned) - set(stopped) <= sent_to
    final = pq.read_table(out / "demo-spring-sale" / "sends.parquet").to_pylist()
    rows = {row["recipient"]: row for row in final}
    assert {rows[r]["state"] for r in stopped} == {"rejected"}
    assert {rows[r]["error_title"] for r in stopped} == {"suppressed_stop"}


async def test_a_ledger_url_with_a_password_stops_the_flow_before_anything_is_sent(
    tmp_path: Path, warehouse: Path, sandbox: SandboxServer
):
    spec = _spec_file(tmp_path, warehouse)
    with pytest.raises(ConfigurationError, match="holds a password"):
        await send_campaign(
            str(spec),
            out_dir=str(tmp_path / "campaigns"),
            ledger_url="postgresql+psycopg://sender:Ledger-Pw-0123@127.0.0.1:5432/test",
        )
    assert sandbox.ground_truth()["messages"] == []
