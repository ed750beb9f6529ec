"""Two workers send one campaign at once through a shared Postgres ledger.

Each worker is a child process running the whole flow with the same spec, output folder and
ledger URL, started together (so both plan the campaign at the same moment). Scored by the
sandbox's ground truth: every planned recipient sent exactly once, and both workers sent.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import prefect.settings
import pyarrow.parquet as pq
import pytest
import yaml

from mmapi.landing import LandingConfig, land
from mmapi.sandbox import SandboxConfig, SandboxServer
from mmflow.warehouse import build_demo_warehouse, demo_campaign_spec
from tests.flows.flow_runner import REPO, RUN_TIMEOUT, Zygote

pytestmark = pytest.mark.usefixtures("prefect_harness")

ROWS = 1500
CHUNK_SIZE = 100
MESSAGES_PER_SECOND = 150  # slow enough that both workers are up before the end
CAMPAIGN = "demo-spring-sale"


def _summary(log: Path) -> dict:
    lines = [line for line in log.read_text().splitlines() if line.startswith("SUMMARY ")]
    assert lines, f"no summary in {log}:\n{log.read_text()[-4000:]}"
    return json.loads(lines[-1].removeprefix("SUMMARY "))


def _score(sandbox: SandboxServer, out: Path) -> None:
    plan = pq.read_table(out / CAMPAIGN / "plan.parquet")
    truth = sandbox.ground_truth()["messages"]
    sent_to = Counter(m["to"] for m in truth)
    twice = {to: n for to, n in sent_to.items() if n > 1}
    assert not twice, f"{len(twice)} recipients sent more than once: {list(twice)[:5]}"
    assert set(sent_to) == set(plan["recipient"].to_pylist())
    sends = pq.read_table(out / CAMPAIGN / "sends.parquet")
    assert Counter(sends["state"].to_pylist()) == {"accepted": plan.num_rows}


@pytest.mark.parametrize("kill_one", [False, True], ids=["both-finish", "one-killed"])
def test_two_workers_share_one_campaign_through_a_postgres_ledger(
    tmp_path: Path, postgres_url: str, kill_one: bool
):
    warehouse = build_demo_warehouse(tmp_path / "wh.duckdb", rows=ROWS)
    spec = demo_campaign_spec(warehouse, messages_per_second=MESSAGES_PER_SECOND)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec.model_dump(mode="json")), encoding="utf-8")
    out = tmp_path / "campaigns"
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    raw.mkdir()
    (lake / "events").mkdir(parents=True)
    with SandboxServer(SandboxConfig(latency_ms=5, webhook_dir=raw)) as sandbox:
        env = dict(os.environ)
        env.update(
            PREFECT_API_URL=str(prefect.settings.PREFECT_API_URL.value()),
            D360_API_KEY=sandbox.api_key,
            D360_BASE_URL=sandbox.url,
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        )
        workers = [Zygote(env), Zygote(env)]
        try:
            args = {
                "spec_path": str(spec_path),
                "out_dir": str(out),
                "ledger_url": postgres_url,
                "chunk_size": CHUNK_SIZE,
            }
            pids = [
                w.start(**args, log=str(tmp_path / f"worker-{i}.log"))
                for i, w in enumerate(workers)
            ]
            if kill_one:
                # SIGKILL the first worker once the campaign is well under way.
                deadline = time.monotonic() + RUN_TIMEOUT
                while len(sandbox.ground_truth()["messages"]) < 300:
                    assert time.monotonic() < deadline, "the workers did not start sending"
                    time.sleep(0.02)
                os.kill(pids[0], signal.SIGKILL)
            codes = [w.exit_code(timeout=RUN_TIMEOUT) for w in workers]
            if kill_one:
                assert codes == [-signal.SIGKILL, 0]
                # The survivor sent every chunk it could claim. A re-run on this host frees the
                # dead worker's chunk at once and settles its requests left in doubt from the
                # landed webhooks (on another host it would wait for the chunk's lease).
                sandbox.flush()
                land(LandingConfig(source=str(raw), out=lake, settle_seconds=0))
                restart = {**args, "events_dir": str(lake / "events"), "unknown_grace_seconds": 0}
                workers[0].start(**restart, log=str(tmp_path / "worker-restart.log"))
                assert workers[0].exit_code(timeout=RUN_TIMEOUT) == 0
            else:
                assert codes == [0, 0], [
                    (tmp_path / f"worker-{i}.log").read_text()[-3000:] for i in range(2)
                ]
                task_runs = [_summary(tmp_path / f"worker-{i}.log")["task_runs"] for i in range(2)]
                assert min(task_runs) > 0, f"one worker sent nothing: {task_runs}"
                plan_rows = pq.read_metadata(out / CAMPAIGN / "plan.parquet").num_rows
                assert sum(task_runs) == -(-plan_rows // CHUNK_SIZE)
                # The two share the campaign's cap instead of sending at it each.
                busiest_second = sandbox.stats()["max_1s_count"]
                assert busiest_second <= MESSAGES_PER_SECOND * 1.1, busiest_second
        finally:
            for worker in workers:
                worker.close()
        _score(sandbox, out)
