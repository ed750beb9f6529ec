"""Helpers of the deployment tests: a Postgres database, commands, waiting for flow runs."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from mmflow.prefect_server import LocalPrefectServer

REPO = Path(__file__).resolve().parents[2]
# Trust auth on the test machine; a missing server fails the fixture (never a skip).
POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PREFECT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
RUN_TIMEOUT_SECONDS = 240.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh Postgres database; yields its name and drops it afterwards."""
    name = f"mmflow_prefect_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def client_environment(server: LocalPrefectServer, **extra: str) -> dict[str, str]:
    """The environment of a `prefect` or `mmflow` command that talks to `server`."""
    return {
        **os.environ,
        "PREFECT_API_URL": server.api_url,
        "PREFECT_HOME": str(server.home),
        # The worker and the runner look for runs every 2 s instead of every 10 s.
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        **extra,
    }


def run_command(
    args: list[str], env: dict[str, str], cwd: Path = REPO, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run a command of the project's environment and return what it printed."""
    return subprocess.run(  # noqa: S603 - our own commands
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@contextmanager
def prefect_client(server: LocalPrefectServer) -> Iterator[Any]:
    """A sync Prefect client of `server` (the session harness stays untouched)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        temporary_settings(updates={PREFECT_API_URL: server.api_url}),
        get_client(sync_client=True) as client,
    ):
        yield client


def wait_for_final_state(client: Any, flow_run_id: uuid.UUID, log: Path) -> Any:
    """The flow run once it is final; fails with the worker's output if it takes too long."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while True:
        flow_run = client.read_flow_run(flow_run_id)
        if flow_run.state is not None and flow_run.state.is_final():
            return flow_run
        if time.monotonic() > deadline:
            raise AssertionError(
                f"flow run {flow_run.name} still {flow_run.state} after "
                f"{RUN_TIMEOUT_SECONDS:.0f} s; worker output:\n{log.read_text()[-3000:]}"
            )
        time.sleep(1)
