"""One run of `mmflow demo` for the whole session, with known secrets, shared by its tests.

The demo is the slowest thing the suite runs, so it runs once: `test_cli.py` checks what a
user sees, `test_secret_audit.py` scans everything it produced for the secrets it was given.
"""

from __future__ import annotations

import os
import random
import secrets
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

# Postgres of the test machine (trust auth: any password is accepted, so the URL can carry a
# known one). A missing server fails the fixture: the test must not be skipped.
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEMO_RECIPIENTS = 400
DEMO_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class DemoRun:
    """A finished `mmflow demo` run.

    Attributes:
        folder: Its working directory (`.prefect/` holds the Prefect server's home).
        out: The `--out` folder.
        result: Exit code and captured output.
        secrets: The known secrets it ran with, by name.
        prefect_port: The port its own Prefect server used.
    """

    folder: Path
    out: Path
    result: subprocess.CompletedProcess[str]
    secrets: dict[str, str]
    prefect_port: int

    @property
    def prefect_home(self) -> Path:
        return self.folder / ".prefect"


def free_port() -> int:
    """A port nothing listens on now, below Linux's ephemeral range (32768+): a port from that
    range can be taken by any outgoing connection before the server binds it."""
    for port in random.sample(range(20_000, 32_000), 50):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """`mmflow demo --recipients 400`, its warehouse in a Postgres database of its own."""
    folder = tmp_path_factory.mktemp("demo")
    known = {
        "api_key": f"demo-key-{secrets.token_hex(12)}",
        "webhook_secret": f"demo-webhook-{secrets.token_hex(12)}",
        "db_password": f"demo-pw-{secrets.token_hex(12)}",
    }
    database = f"mmflow_demo_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {database}")
    port = free_port()
    env = dict(os.environ)
    env.update(
        SANDBOX_API_KEY=known["api_key"],
        MMFLOW_WEBHOOK_APP_SECRET=known["webhook_secret"],
        MMFLOW_DEMO_WAREHOUSE_URL=(
            f"postgresql://postgres:{known['db_password']}@127.0.0.1:5432/{database}"
        ),
        # Every Prefect log goes to the server (so the audit sees them all); the console
        # keeps the demo's usual quiet.
        PREFECT_LOGGING_LEVEL="DEBUG",
        PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="WARNING",
    )
    env.pop("PREFECT_API_URL", None)
    out = folder / "out"
    command = [sys.executable, "-m", "mmflow.cli", "demo", "--recipients", str(DEMO_RECIPIENTS)]
    try:
        result = subprocess.run(  # noqa: S603 - our own command
            [*command, "--out", str(out), "--prefect-port", str(port)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=DEMO_TIMEOUT_SECONDS,
            check=False,
        )
        yield DemoRun(folder, out, result, known, port)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin.dispose()
