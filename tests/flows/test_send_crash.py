"""Crash safety of send_campaign: the flow process is SIGKILLed at several points and re-run.

Each run is a child process (so SIGKILL hits the flow, its ledger writer and its in-flight
requests at once). Between runs the sandbox's webhooks are flushed and landed, so a re-run
can settle what the dead run left `unknown`. Scored by the sandbox's ground truth: no
recipient sent twice, no planned recipient never sent, and sends.parquet holds every plan
row `accepted` with the wamid the sandbox gave.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import prefect.settings
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mmapi.landing import LandingConfig, land
from mmapi.sandbox import SandboxConfig, SandboxServer
from mmflow.chaos.flow_runner import FlowRunner
from mmflow.warehouse import build_demo_warehouse, demo_campaign_spec

pytestmark = pytest.mark.usefixtures("prefect_harness")

CAMPAIGN = "demo-spring-sale"
ROWS = 1300
CHUNK_SIZE = 100
MESSAGES_PER_SECOND = 300
MAX_COMPLETION_RUNS = 4
RUN_TIMEOUT = 60.0


@dataclass
class Campaign:
    """One campaign's files, the sandbox it sends to and the runner of its flow runs."""

    sandbox: SandboxServer
    out: Path
    raw: Path
    lake: Path
    runner: FlowRunner

    @property
    def folder(self) -> Path:
        return self.out / CAMPAIGN

    @property
    def ledger(self) -> Path:
        return self.folder / "ledger.sqlite"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_warehouse(tmp_path_factory.mktemp("warehouse") / "wh.duckdb", rows=ROWS)


@pytest.fixture
def campaign(tmp_path: Path, warehouse: Path) -> Iterator[Campaign]:
    raw = tmp_path / "raw"
    raw.mkdir()
    (tmp_path / "lake" / "events").mkdir(parents=True)
    config = SandboxConfig(latency_ms=5, webhook_dir=raw)
    with SandboxServer(config) as server:
        spec = demo_campaign_spec(warehouse, messages_per_second=MESSAGES_PER_SECOND)
        spec_path = tmp_path / "spec.yaml"
        spec_path.write_text(yaml.safe_dump(spec.model_dump(mode="json")), encoding="utf-8")
        env = dict(os.environ)
        env.update(
            PREFECT_API_URL=str(prefect.settings.PREFECT_API_URL.value()),
            D360_API_KEY=server.api_key,
            D360_BASE_URL=server.url,
        )
        out, lake = tmp_path / "campaigns", tmp_path / "lake"
        flow_args = {
            "spec_path": str(spec_path),
            "out_dir": str(out),
            "events_dir": str(lake / "events"),
            "chunk_size": CHUNK_SIZE,
            "unknown_grace_seconds": 0,
        }
        runner = FlowRunner(env, tmp_path / "runs", flow_args)
        try:
            yield Campaign(server, out, raw, lake, runner)
        finally:
            runner.close()


# -- what the test watches while a run goes ---------------------------------------------------


def _ledger_query(campaign: Campaign, sql: str) -> int:
    if not campaign.ledger.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{campaign.ledger}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute(sql).fetchone()[0] or 0)
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def truth_at_least(n: int) -> Callable[[Campaign], bool]:
    """Kill once the sandbox accepted n messages in all (mid-chunk, requests in the air)."""

    def reached(campaign: Campaign) -> bool:
        return len(campaign.sandbox.ground_truth()["messages"]) >= n

    reached.__name__ = f"sandbox accepted >= {n}"
    return reached


def in_flight_after(n: int) -> Callable[[Campaign], bool]:
    """Kill as soon as the ledger shows committed in_flight rows and >= n accepted by the
    sandbox: right after requests left, before their outcomes were written."""

    def reached(campaign: Campaign) -> bool:
        flying = _ledger_query(
            campaign, "SELECT count(*) FROM send_ledger WHERE state = 'in_flight'"
        )
        return flying > 0 and (n == 0 or truth_at_least(n)(campaign))

    reached.__name__ = f"ledger in_flight > 0 after {n} accepted"
    return reached


def chunks_done(k: int) -> Callable[[Campaign], bool]:
    """Kill right after this run finished its k-th chunk in the ledger (between chunks)."""
    baseline: list[int] = []

    def reached(campaign: Campaign) -> bool:
        done = _ledger_query(campaign, "SELECT count(*) FROM send_chunks WHERE state = 'done'")
        if not baseline:  # first look, before this run sent anything
            baseline.append(done)
        return done - baseline[0] >= k

    reached.__name__ = f"this run finished {k} chunks"
    return reached


def kill_points() -> list[Callable[[Campaign], bool]]:
    """Where the runs of one test are killed, in order (the last run goes to the end)."""
    return [
        in_flight_after(0),  # the first claims committed, the first requests leaving
        truth_at_least(150),  # mid-chunk, both concurrent chunks under way
        chunks_done(2),  # just after a chunk boundary
        truth_at_least(620),  # mid-chunk again
        in_flight_after(800),  # right after requests left, late in the campaign
        chunks_done(1),  # between chunks, in the tail
    ]


# -- running the flow in a child ------------------------------------------------------------


def _run_and_kill(campaign: Campaign, kill_when: Callable[[Campaign], bool]) -> bool:
    """Start a run, SIGKILL it when `kill_when` holds; True if it was killed while running."""
    runner = campaign.runner
    runner.start()
    deadline = time.monotonic() + RUN_TIMEOUT
    while (code := runner.exit_code()) is None:
        if kill_when(campaign):
            code = runner.kill()
            break
        if time.monotonic() > deadline:
            runner.kill()
            pytest.fail(f"run did not reach {kill_when.__name__}:\n{runner.log_tail(4000)}")
        time.sleep(0.01)
    assert code in (0, -signal.SIGKILL), f"run failed ({code}):\n{runner.log_tail(4000)}"
    return code == -signal.SIGKILL


def _run_to_end(campaign: Campaign) -> dict:
    runner = campaign.runner
    runner.start()
    code = runner.exit_code(timeout=RUN_TIMEOUT)
    assert code == 0, f"run failed ({code}):\n{runner.log_tail(4000)}"
    summary = runner.summary()
    assert summary, f"no summary:\n{runner.log_tail(4000)}"
    return summary


def _between_runs(campaign: Campaign) -> None:
    """What a re-run needs: the webhooks delivered and landed.

    The dead run's chunk leases are left as they are: the re-run frees the leases of runs of
    this host that have exited, and takes their chunks over at once.
    """
    campaign.sandbox.flush()
    land(LandingConfig(source=str(campaign.raw), out=campaign.lake, settle_seconds=0))


def _crash_and_resume(campaign: Campaign) -> None:
    killed = []
    first_plan: pa.Table | None = None
    for kill_when in kill_points():
        if _run_and_kill(campaign, kill_when):
            killed.append(kill_when.__name__)
        if first_plan is None and (campaign.folder / "plan.parquet").exists():
            first_plan = pq.read_table(campaign.folder / "plan.parquet")
        _between_runs(campaign)
    assert len(killed) >= 5, f"only {len(killed)} runs were killed mid-run: {killed}"

    summaries = []
    for _ in range(MAX_COMPLETION_RUNS):
        summaries.append(_run_to_end(campaign))
        _between_runs(campaign)
        if summaries[-1]["planned_left"] == 0 and summaries[-1]["unknown"] == 0:
            break

    # Resumed runs keep the plan of the first run that planned the campaign.
    plan = pq.read_table(campaign.folder / "plan.parquet")
    assert first_plan is not None
    assert plan.equals(first_plan)
    sends = pq.read_table(campaign.folder / "sends.parquet").to_pylist()
    truth = campaign.sandbox.ground_truth()["messages"]
    planned = set(plan["recipient"].to_pylist())
    sent_to = Counter(m["to"] for m in truth)
    twice = {to: n for to, n in sent_to.items() if n > 1}
    never = planned - set(sent_to)
    assert not twice, f"{len(twice)} recipients sent more than once: {list(twice)[:5]}"
    assert not never, f"{len(never)} planned recipients never sent: {sorted(never)[:5]}"
    assert set(sent_to) == planned
    states = Counter(row["state"] for row in sends)
    leftovers = [row for row in sends if row["state"] != "accepted"][:5]
    assert states == {"accepted": plan.num_rows}, (
        f"final ledger {dict(states)}; e.g. {leftovers}; runs: {summaries}"
    )
    assert {r["message_key"] for r in sends} == set(plan["message_key"].to_pylist())
    wamid_of = {m["to"]: m["wamid"] for m in truth}
    wrong = [r for r in sends if r["wamid"] != wamid_of[r["recipient"]]]
    assert not wrong, f"{len(wrong)} rows hold another wamid than the sandbox's: {wrong[:3]}"


def test_send_flow_killed_at_many_points_sends_each_recipient_once(campaign: Campaign):
    _crash_and_resume(campaign)


def test_send_flow_killed_under_faults_sends_each_recipient_once(campaign: Campaign):
    # 5% 500s, 1% accepted-then-dropped, and a throughput cap below the client's rate (130429).
    campaign.sandbox.update_config(
        p_500=0.05, p_accept_then_drop=0.01, rate_limit_mps=MESSAGES_PER_SECOND * 0.6
    )
    _crash_and_resume(campaign)
    stats = campaign.sandbox.stats()
    assert stats["faults"].get("http_500", 0) > 0
    assert stats["faults"].get("accept_then_drop", 0) > 0
    assert stats["rejected"].get("130429", 0) > 0
