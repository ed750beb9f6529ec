"""A local Prefect server for the demo, `mmflow serve` and ad hoc runs, with its own PREFECT_HOME.

Without a server, every flow run starts a temporary one and prints errors when it exits; a
real local server avoids that and keeps the runs visible in the UI. Prefect reads its
settings from the environment when it is first imported, so `LocalPrefectServer` sets
PREFECT_HOME and PREFECT_API_URL before any Prefect import of the calling process.

The server runs as `prefect server start` in a session of its own, writing to
`PREFECT_HOME/server.log`. Not `prefect server start --background`: that leaves the server in
the caller's process group, so a Ctrl+C or a SIGTERM to the group stops it while the caller
still needs it (`mmflow serve` pauses its deployments on the way out), and it sends the
server's output into pipes nobody reads, so its errors are lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["DATABASE_URL_ENV", "DEFAULT_PORT", "LocalPrefectServer"]

DEFAULT_PORT = 4200
STARTUP_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 30.0
# How long the logs and events still held for the server may take to reach it before it stops.
DELIVER_TIMEOUT_SECONDS = 10.0
# Prefect's own setting; a Postgres URL here is what a production team runs on.
DATABASE_URL_ENV = "PREFECT_API_DATABASE_CONNECTION_URL"
# The name `prefect server stop` looks for, so a server left running can be stopped with it.
PID_FILE_NAME = "server.pid"
LOG_FILE_NAME = "server.log"


def _deliver_pending() -> None:
    """Send the logs and events this process's Prefect workers still hold, and wait for them.

    They go to the server in batches a few seconds apart. What is left when the server stops
    is lost, and at exit Prefect retries it against the stopped server first: over a minute
    with DEBUG logs on. Nothing to send if this process never imported them.
    """
    if "prefect.logging.handlers" in sys.modules:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=DELIVER_TIMEOUT_SECONDS, at_exit=False)
    if "prefect.events.worker" in sys.modules:
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=DELIVER_TIMEOUT_SECONDS, at_exit=False)


class LocalPrefectServer:
    """Use the Prefect server at 127.0.0.1:`port`, starting one in the background if none is up.

    Args:
        home: PREFECT_HOME for the server (its SQLite database and `server.log` live there).
        port: Port of the server's API and UI.
        keep: Leave a server this object started running on exit (`prefect server stop`,
            with the same PREFECT_HOME, stops it later).
        database_url: SQLAlchemy URL of the server's database, e.g.
            `postgresql+asyncpg://user@127.0.0.1:5432/prefect` (default: SQLite in `home`).
            The database must exist; the server creates its tables.

    Example:
        >>> with LocalPrefectServer(Path(".prefect")) as server:  # doctest: +SKIP
        ...     print(server.ui_url)
    """

    def __init__(
        self,
        home: Path,
        port: int = DEFAULT_PORT,
        *,
        keep: bool = False,
        database_url: str | None = None,
    ):
        self.home = home.resolve()
        self.port = port
        self.keep = keep
        self.database_url = database_url
        self.started = False
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        # The database URL may carry a password: it stays out of the repr.
        return f"LocalPrefectServer(home={self.home!s}, port={self.port}, keep={self.keep})"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """The server's output (errors included), appended at each start."""
        return self.home / LOG_FILE_NAME

    def healthy(self) -> bool:
        """Whether a server answers on the port."""
        try:
            return httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _environment(self) -> dict[str, str]:
        """What the calling process and its flow runs need to find this server."""
        return {
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_API_PORT": str(self.port),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }

    def _server_environment(self) -> dict[str, str]:
        environment = {**os.environ, **self._environment()}
        if self.database_url:
            environment[DATABASE_URL_ENV] = self.database_url
        return environment

    def __enter__(self) -> LocalPrefectServer:
        os.environ.update(self._environment())
        if self.healthy():
            return self
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"],
                env=self._server_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl+C meant for the caller does not stop it first.
                start_new_session=True,
            )
        (self.home / PID_FILE_NAME).write_text(str(self._process.pid), encoding="utf-8")
        self.started = True
        try:
            self._wait_until_healthy(self._process)
        except BaseException:
            # Ctrl+C or SIGTERM while waiting: __exit__ will not run, so stop it here.
            self.stop()
            raise
        return self

    def _wait_until_healthy(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self.healthy():
            if process.poll() is not None:
                raise RuntimeError(
                    f"the Prefect server on port {self.port} exited at start-up "
                    f"(code {process.returncode}); its output is in {self.log_path}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the Prefect server at {self.ui_url} did not become healthy in "
                    f"{STARTUP_TIMEOUT_SECONDS:.0f} s; its output is in {self.log_path}"
                )
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop the server if this object started it (SIGTERM, then SIGKILL after 30 s).

        What this process has logged or emitted for the server is sent first (see
        `_deliver_pending`).
        """
        if not self.started or self._process is None:
            return
        if self._process.poll() is None:
            _deliver_pending()
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._forget()

    def _forget(self) -> None:
        (self.home / PID_FILE_NAME).unlink(missing_ok=True)
        self.started = False

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self.keep:
            self.stop()
