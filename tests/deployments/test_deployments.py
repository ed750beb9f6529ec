"""prefect.yaml as a team uses it: deployed to a process work pool and run by a worker, or
served by `mmflow serve` on its schedules, against a real Prefect server on Postgres.

The tests run in file order: the worker's deployments first, then serving the same ones.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from mmapi.sandbox import SandboxConfig, SandboxServer
from mmapi.sandbox.generator import generate_webhook_files
from mmflow.prefect_server import LocalPrefectServer
from mmflow.warehouse import build_demo_warehouse, demo_campaign_spec
from tests.deployments.helpers import (
    REPO,
    client_environment,
    prefect_client,
    run_command,
    wait_for_final_state,
)
from tests.mmapi.analytics.scenario import AS_OF, write_scenario

BIN = Path(sys.executable).parent
PREFECT = str(BIN / "prefect")
MMFLOW = str(BIN / "mmflow")
CAMPAIGN_ID = "deployed-campaign"
DEPLOYMENTS = {"send-campaign", "land-webhooks", "build-report"}
# The landing schedule while serving in the test: every few seconds instead of 5 minutes.
TEST_LANDING_INTERVAL_SECONDS = 5
SERVE_TIMEOUT_SECONDS = 180.0


def _checkout(folder: Path) -> Path:
    """A stand-in for the project checkout on a worker's machine: flows/ and data folders."""
    folder.mkdir()
    (folder / "flows").symlink_to(REPO / "flows", target_is_directory=True)
    return folder


def test_prefect_yaml_deploys_and_a_process_worker_runs_each_deployment(
    prefect_server: LocalPrefectServer, tmp_path: Path
):
    # Independent inputs, so the worker runs the three deployments at once: a campaign to
    # send, webhooks in raw/ to land, and the analytics tests' hand-made campaign to report.
    project = _checkout(tmp_path / "project")
    warehouse = build_demo_warehouse(project / "warehouse.duckdb", rows=300, seed=4)
    spec = demo_campaign_spec(warehouse, CAMPAIGN_ID, messages_per_second=1000)
    # A relative spec path, like the deployment's other paths: resolved in the checkout.
    (project / "campaign.yaml").write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    generate_webhook_files(project / "raw", messages=200, seed=4)
    scenario = write_scenario(tmp_path / "scenario")
    worker_log = tmp_path / "worker.log"
    with SandboxServer(SandboxConfig(seed=4)) as sandbox:
        env = client_environment(prefect_server)
        pool = run_command([PREFECT, "work-pool", "create", "mmflow", "--type", "process"], env)
        assert pool.returncode == 0, pool.stdout + pool.stderr
        # MMFLOW_PROJECT_DIR unset here: the pull step keeps it, each worker resolves it.
        deployed = run_command([PREFECT, "--no-prompt", "deploy", "--all"], env)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "Traceback" not in deployed.stdout + deployed.stderr

        with prefect_client(prefect_server) as client:
            deployments = {d.name: d for d in client.read_deployments()}
            assert set(deployments) == DEPLOYMENTS
            assert {d.work_pool_name for d in deployments.values()} == {"mmflow"}
            pull = deployments["land-webhooks"].pull_steps
            assert pull == [
                {
                    "prefect.deployments.steps.set_working_directory": {
                        "directory": "{{ $MMFLOW_PROJECT_DIR }}"
                    }
                }
            ]
            assert deployments["send-campaign"].schedules == []
            landing = deployments["land-webhooks"].schedules[0].schedule
            assert (landing.interval, landing.timezone) == (timedelta(seconds=300), "UTC")
            report = deployments["build-report"].schedules[0].schedule
            assert (report.cron, report.timezone) == ("0 * * * *", "UTC")
            for name in ("land-webhooks", "build-report"):  # one at a time, no pile-up
                assert deployments[name].global_concurrency_limit.limit == 1
                assert deployments[name].concurrency_options.collision_strategy == "CANCEL_NEW"

            worker_env = {
                **env,
                "MMFLOW_PROJECT_DIR": str(project),
                "D360_API_KEY": sandbox.api_key,
                "D360_BASE_URL": sandbox.url,
            }
            with worker_log.open("w") as log:
                # Started elsewhere than the checkout: the pull step moves each run there.
                worker = subprocess.Popen(  # noqa: S603 - Prefect's own command
                    [PREFECT, "worker", "start", "--pool", "mmflow"],
                    cwd=tmp_path,
                    env=worker_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            try:
                # The deployments' own parameters, but for a spec to send and the report's
                # inputs (its output stays the default report/).
                runs = {
                    name: client.create_flow_run_from_deployment(
                        deployments[name].id, parameters=parameters
                    )
                    for name, parameters in (
                        ("send-campaign", {"spec_path": "campaign.yaml"}),
                        ("land-webhooks", {}),
                        (
                            "build-report",
                            {
                                "sends": str(scenario.sends),
                                "events": str(scenario.events),
                                "as_of": AS_OF.isoformat(),
                            },
                        ),
                    )
                }
                states = {
                    name: wait_for_final_state(client, run.id, worker_log).state.type.value
                    for name, run in runs.items()
                }
            finally:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=60)

            # Serving deployments a worker owns would break their runs: refused, one line.
            refused = run_command([MMFLOW, "serve"], env)
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert "send_campaign/send-campaign is on work pool 'mmflow'" in refused.stderr
            assert "Traceback" not in refused.stdout + refused.stderr
            for deployment in deployments.values():  # free the names for the serve tests
                client.delete_deployment(deployment.id)

    output = worker_log.read_text()
    assert states == dict.fromkeys(DEPLOYMENTS, "COMPLETED"), output[-5000:]
    assert "Traceback" not in output
    sends = pq.read_table(project / "campaigns" / CAMPAIGN_ID / "sends.parquet")
    assert sends.filter(pc.equal(sends["state"], "accepted")).num_rows > 200
    assert list((project / "lake" / "events" / "statuses").rglob("*.parquet"))
    assert (project / "report" / "report.html").is_file()
    with duckdb.connect(str(project / "report" / "analytics.duckdb"), read_only=True) as db:
        funnel = db.sql("SELECT arm, accepted, delivered, read FROM funnel ORDER BY arm").fetchall()
    # The scenario's numbers, worked out by hand in tests/mmapi/analytics/scenario.py.
    assert ("mm", 6, 4, 2) in funnel


def _wait_for_scheduled_run(server: LocalPrefectServer, serve: subprocess.Popen, log: Path):
    """The first land_webhooks run the schedule made, once completed, and every landing run."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    landing = DeploymentFilter(name=DeploymentFilterName(any_=["land-webhooks"]))
    deadline = time.monotonic() + SERVE_TIMEOUT_SECONDS
    with prefect_client(server) as client:
        while time.monotonic() < deadline:
            assert serve.poll() is None, log.read_text()
            runs = client.read_flow_runs(deployment_filter=landing)
            done = [r for r in runs if r.auto_scheduled and r.state and r.state.is_completed()]
            if done:
                return done[0], runs
            time.sleep(1)
    raise AssertionError(f"no scheduled run completed; mmflow serve said:\n{log.read_text()}")


def test_mmflow_serve_runs_the_schedules_and_stops_cleanly_on_ctrl_c(
    prefect_server: LocalPrefectServer, tmp_path: Path
):
    config = tmp_path / "prefect.yaml"
    text = (REPO / "prefect.yaml").read_text(encoding="utf-8")
    assert "interval: 300" in text
    config.write_text(text.replace("interval: 300", f"interval: {TEST_LANDING_INTERVAL_SECONDS}"))
    generate_webhook_files(tmp_path / "raw", messages=200, seed=5)
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        # Runs start in the folder `mmflow serve` runs in: raw/ and lake/ are tmp_path's.
        serve = subprocess.Popen(  # noqa: S603 - our own command
            [MMFLOW, "serve", "--config", str(config)],
            cwd=tmp_path,
            env=client_environment(prefect_server),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        scheduled, landing_runs = _wait_for_scheduled_run(prefect_server, serve, log)
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=90)

    said = log.read_text()
    assert serve.returncode == 0, said
    # One landing run at a time: none failed on the landing lock of an overlapping run.
    assert not [r.state for r in landing_runs if r.state and r.state.is_failed()], said
    assert "Traceback" not in said
    assert f"land_webhooks/land-webhooks: every {TEST_LANDING_INTERVAL_SECONDS} s (UTC)" in said
    assert "stopped; the deployments are paused until served again" in said
    assert list((tmp_path / "lake" / "events" / "statuses").rglob("*.parquet"))
    with prefect_client(prefect_server) as client:
        assert client.read_deployment(scheduled.deployment_id).paused


def test_mmflow_serve_stops_cleanly_on_sigterm_while_starting(
    prefect_server: LocalPrefectServer, tmp_path: Path
):
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        serve = subprocess.Popen(  # noqa: S603 - our own command
            [MMFLOW, "serve", "--config", str(REPO / "prefect.yaml")],
            cwd=tmp_path,
            env=client_environment(prefect_server),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + SERVE_TIMEOUT_SECONDS
    while "Ctrl+C stops" not in log.read_text() and time.monotonic() < deadline:
        assert serve.poll() is None, log.read_text()
        time.sleep(0.2)
    serve.send_signal(signal.SIGTERM)
    serve.wait(timeout=90)

    said = log.read_text()
    assert serve.returncode == 0, said
    assert "Traceback" not in said
    assert "stopped; the deployments are paused until served again" in said


def test_mmflow_serve_bad_config_is_one_line_error(tmp_path: Path):
    config = tmp_path / "prefect.yaml"
    config.write_text(
        "deployments:\n  - name: land\n    entrypoint: flows/land_webhooks.py:land_webhooks\n"
        "    schedules:\n      - every: 5\n",
        encoding="utf-8",
    )
    result = run_command(
        [MMFLOW, "serve", "--config", str(config)], env=dict(os.environ), cwd=tmp_path
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"{config}: deployment 'land'" in result.stderr
    assert "schedule" in result.stderr
