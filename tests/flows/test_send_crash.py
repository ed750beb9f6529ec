"""Crash safety of send_campaign: the flow process is SIGKILLed at several points and re-run.

Each run is a child process (so SIGKILL hits the flow, its ledger writer and its in-flight
requests at once). Between runs the sandbox's webhooks are flushed and landed, so a re-run
can settle what the dead run left `unknown`. Scored by the sandbox's ground truth: no
recipient sent twice, no planned recipient never sent, and sends.parquet holds every plan
row `accepted` with the wamid the sandbox gave.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
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
from mmflow.warehouse import build_demo_warehouse, demo_campaign_spec

pytestmark = pytest.mark.usefixtures("prefect_harness")

REPO = Path(__file__).resolve().parents[2]
CAMPAIGN = "demo-spring-sale"
ROWS = 1300
CHUNK_SIZE = 100
MESSAGES_PER_SECOND = 300
RUN_TIMEOUT = 60.0
MAX_COMPLETION_RUNS = 4

# A zygote: imports the flow once (seconds), then forks one child per run on request, so a
# run starts in milliseconds. Each request line is JSON args; it answers "PID n", then
# "EXIT code" (negative: killed by that signal) once the child is gone.
ZYGOTE = """
import asyncio, json, os, sys
from flows.send_campaign import send_campaign

for line in sys.stdin:
    args = json.loads(line)
    pid = os.fork()
    if pid == 0:
        log = os.open(args.pop("log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(log, 1)
        os.dup2(log, 2)
        try:
            state = asyncio.run(send_campaign(**args, return_state=True))
            summary = state.result(raise_on_failure=False)
            print("SUMMARY " + json.dumps(summary, default=str), flush=True)
            code = 0 if state.is_completed() else 1
        except BaseException as exc:
            import traceback
            traceback.print_exc()
            code = 2
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    print("PID", pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print("EXIT", os.waitstatus_to_exitcode(status), flush=True)
"""


@dataclass
class Campaign:
    """One campaign's files and the sandbox it sends to."""

    sandbox: SandboxServer
    spec: Path
    out: Path
    raw: Path
    lake: Path
    zygote: Zygote
    runs: int = 0

    @property
    def folder(self) -> Path:
        return self.out / CAMPAIGN

    @property
    def ledger(self) -> Path:
        return self.folder / "ledger.sqlite"

    @property
    def events(self) -> Path:
        return self.lake / "events"


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
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        )
        zygote = Zygote(env)
        try:
            yield Campaign(
                server, spec_path, tmp_path / "campaigns", raw, tmp_path / "lake", zygote
            )
        finally:
            zygote.close()


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


class Zygote:
    """The flow runner process; each run is a fork of it."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and flow
            [sys.executable, "-c", ZYGOTE],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        stdout = self.process.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [self.lines.put(x) for x in stdout], daemon=True).start()

    def start(self, **args: object) -> int:
        """Fork a run of the flow; returns its pid."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(args) + "\n")
        self.process.stdin.flush()
        line = self.lines.get(timeout=RUN_TIMEOUT)
        assert line.startswith("PID "), line
        return int(line.split()[1])

    def exit_code(self, timeout: float | None = None) -> int | None:
        """The run's exit code once it ended (None if still running after `timeout`)."""
        try:
            line = self.lines.get(timeout=timeout) if timeout else self.lines.get_nowait()
        except queue.Empty:
            return None
        assert line.startswith("EXIT "), line
        return int(line.split()[1])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _start(campaign: Campaign) -> int:
    campaign.runs += 1
    return campaign.zygote.start(
        spec_path=str(campaign.spec),
        out_dir=str(campaign.out),
        events_dir=str(campaign.events),
        chunk_size=CHUNK_SIZE,
        unknown_grace_seconds=0,
        log=str(campaign.out.parent / f"run-{campaign.runs}.log"),
    )


def _log(campaign: Campaign) -> str:
    return (campaign.out.parent / f"run-{campaign.runs}.log").read_text(errors="replace")


def _run_and_kill(campaign: Campaign, kill_when: Callable[[Campaign], bool]) -> bool:
    """Start a run, SIGKILL it when `kill_when` holds; True if it was killed while running."""
    pid = _start(campaign)
    deadline = time.monotonic() + RUN_TIMEOUT
    while (code := campaign.zygote.exit_code()) is None:
        if kill_when(campaign):
            os.kill(pid, signal.SIGKILL)
            code = campaign.zygote.exit_code(timeout=10)
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            campaign.zygote.exit_code(timeout=10)
            pytest.fail(f"run did not reach {kill_when.__name__}:\n{_log(campaign)[-4000:]}")
        time.sleep(0.01)
    assert code in (0, -signal.SIGKILL), f"run failed ({code}):\n{_log(campaign)[-4000:]}"
    return code == -signal.SIGKILL


def _run_to_end(campaign: Campaign) -> dict:
    _start(campaign)
    code = campaign.zygote.exit_code(timeout=RUN_TIMEOUT)
    log = _log(campaign)
    assert code == 0, f"run failed ({code}):\n{log[-4000:]}"
    lines = [line for line in log.splitlines() if line.startswith("SUMMARY ")]
    assert lines, f"no summary:\n{log[-4000:]}"
    return json.loads(lines[-1].removeprefix("SUMMARY "))


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
        if first_plan is None:
            # Re-runs prepare the plan again, and suppress recipients whose landed webhooks
            # say they failed with 131050: the first plan is what the campaign set out to send.
            first_plan = pq.read_table(campaign.folder / "plan.parquet")
        _between_runs(campaign)
    assert len(killed) >= 5, f"only {len(killed)} runs were killed mid-run: {killed}"

    summaries = []
    for _ in range(MAX_COMPLETION_RUNS):
        summaries.append(_run_to_end(campaign))
        _between_runs(campaign)
        if summaries[-1]["planned_left"] == 0 and summaries[-1]["unknown"] == 0:
            break

    plan = first_plan
    assert plan is not None
    final_plan = set(pq.read_table(campaign.folder / "plan.parquet")["recipient"].to_pylist())
    assert final_plan <= set(plan["recipient"].to_pylist())
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
