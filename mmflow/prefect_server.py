"""A local Prefect server for the demo and ad hoc runs, with its own PREFECT_HOME.

Without a server, every flow run starts a temporary one and prints errors when it exits; a
real local server avoids that and keeps the runs visible in the UI. Prefect reads its
settings from the environment when it is first imported, so `LocalPrefectServer` sets
PREFECT_HOME and PREFECT_API_URL before any Prefect import of the calling process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["DEFAULT_PORT", "LocalPrefectServer"]

DEFAULT_PORT = 4200
STARTUP_TIMEOUT_SECONDS = 90.0


class LocalPrefectServer:
    """Use the Prefect server at 127.0.0.1:`port`, starting one in the background if none is up.

    Args:
        home: PREFECT_HOME for the server (its database lives there).
        port: Port of the server's API and UI.
        keep: Leave a server this object started running on exit.

    Example:
        >>> with LocalPrefectServer(Path(".prefect")) as server:  # doctest: +SKIP
        ...     print(server.ui_url)
    """

    def __init__(self, home: Path, port: int = DEFAULT_PORT, *, keep: bool = False):
        self.home = home.resolve()
        self.port = port
        self.keep = keep
        self.started = False

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        """Whether a server answers on the port."""
        try:
            return httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _environment(self) -> dict[str, str]:
        return {
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_API_PORT": str(self.port),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }

    def __enter__(self) -> LocalPrefectServer:
        os.environ.update(self._environment())
        if self.healthy():
            return self
        self.home.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "prefect", "server", "start", "--background"],
            env={**os.environ, **self._environment()},
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.started = True
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self.healthy():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server at {self.ui_url} did not become healthy")
            time.sleep(0.5)
        return self

    def stop(self) -> None:
        """Stop the server if this object started it."""
        if self.started:
            subprocess.run(
                [sys.executable, "-m", "prefect", "server", "stop"],
                env={**os.environ, **self._environment()},
                check=False,
                capture_output=True,
                timeout=60,
            )
            self.started = False

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self.keep:
            self.stop()
