"""Running the sandbox: `serve` in this process, or `SandboxServer` in a child process.

Both run uvicorn with a protocol that lets the app drop a connection without answering
(`p_accept_then_drop`): uvicorn's own protocol answers 500 when an app returns without a
response, which a client would read as an answer.

Run from a shell: `python -m mmapi.sandbox --port 8360` (add `--config file.json`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import weakref
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..child_server import ChildServer, bind_and_announce
from .app import ABORT_EXTENSION, create_app
from .config import SandboxConfig

__all__ = ["SandboxServer", "serve"]


class _AbortableProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus a scope extension that aborts the connection."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        transport = self.transport
        if cycle is None:
            return
        # Weak: the scope belongs to the cycle, and a strong reference back made every request
        # a reference cycle, left for the garbage collector's full passes; freeing thousands of
        # them at once paused the sandbox for 20-240 ms, bunching the arrivals it counts.
        cycle_ref = weakref.ref(cycle)

        def abort() -> None:
            # Marked first, so uvicorn neither answers 500 nor writes to the dead socket.
            live_cycle = cycle_ref()
            if live_cycle is not None:
                live_cycle.disconnected = True
            transport.abort()

        cycle.scope.setdefault("extensions", {})[ABORT_EXTENSION] = abort


def _uvicorn_config(config: SandboxConfig, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(config),
        host=host,
        port=port,
        http=_AbortableProtocol,
        loop="auto",
        lifespan="on",
        access_log=False,
        # No proxy sits in front of the sandbox; the middleware costs on every request.
        proxy_headers=False,
        log_level="warning",
        backlog=4096,
        timeout_graceful_shutdown=2,
    )


def _run(server: uvicorn.Server, sockets: list[Any] | None = None) -> None:
    # What startup made (modules, the app) lives as long as the process: frozen, a full
    # garbage collection no longer scans it, so its pauses (which bunch the arrivals the
    # sandbox counts) stay short. Most of those pauses came from requests left as reference
    # cycles (see _AbortableProtocol); this trims what remains.
    gc.freeze()
    server.run(sockets=sockets)


def serve(config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 8360) -> None:
    """Run the sandbox until interrupted (blocking).

    Args:
        config: What to simulate; the defaults when None.
        host: Address to bind.
        port: Port to bind.
    """
    _run(uvicorn.Server(_uvicorn_config(config or SandboxConfig(), host, port)))


def _config_json(config: SandboxConfig) -> str:
    # Secrets unwrapped only here, to cross into the child over a pipe (never argv or env).
    data = config.model_dump(mode="json")
    data["api_key"] = config.api_key.get_secret_value()
    if config.webhook_secret is not None:
        data["webhook_secret"] = config.webhook_secret.get_secret_value()
    return json.dumps(data)


class SandboxServer(ChildServer):
    """The sandbox in a separate process on a free loopback port, for tests and demos.

    Attributes:
        config: What the sandbox simulates.
        host: The loopback address it binds.
        url: `http://host:port`, once started.

    Example:
        >>> with SandboxServer(SandboxConfig(p_500=0.1)) as server:  # doctest: +SKIP
        ...     httpx.get(f"{server.url}/sandbox/health").json()["status"]
        'ok'
    """

    main_module = "mmapi.sandbox.server"
    health_path = "/sandbox/health"
    own_session = True  # for `run_ahead`

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        startup_timeout: float = 20.0,
    ) -> None:
        super().__init__(host=host, startup_timeout=startup_timeout)
        self.config = config or SandboxConfig()

    @property
    def api_key(self) -> str:
        """The key the sandbox accepts, for a client's `D360-API-KEY`."""
        return self.config.api_key.get_secret_value()

    def config_json(self) -> str:
        return _config_json(self.config)

    def run_ahead(self, niceness: int = -10) -> bool:
        """Give the sandbox process priority over the processes it measures (for benchmarks).

        The sandbox stands in for the API's servers, which do not share the sender's cores. At
        equal priority on a busy machine, its own wait for a core delays when it counts
        requests, and that delay reads as the sender bunching them.

        The niceness goes to the process and, where Linux groups processes by session for
        scheduling (autogroup), to its group: a process's niceness only counts within its
        group, and each flow run, server and database sits in a group of its own.

        Returns:
            Whether it worked (a negative niceness needs root or CAP_SYS_NICE).
        """
        if self.pid is None:
            return False
        try:
            os.setpriority(os.PRIO_PROCESS, self.pid, niceness)
        except PermissionError:
            return False
        autogroup = Path(f"/proc/{self.pid}/autogroup")
        if autogroup.exists():
            try:
                autogroup.write_text(str(niceness), encoding="ascii")
            except OSError:
                return False
        return True

    # Small sync helpers for tests and demos (from async code, call them with to_thread or
    # use an httpx.AsyncClient on `url`, so a receiver on the same loop is not blocked).

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = httpx.request(method, f"{self.url}{path}", timeout=120.0, **kwargs)
        answer.raise_for_status()
        return answer.json()

    def health(self) -> dict[str, Any]:
        """`GET /sandbox/health`: status, messages accepted so far, simulated time."""
        return self._call("GET", "/sandbox/health")

    def flush(self) -> dict[str, Any]:
        """`POST /sandbox/flush`: deliver every scheduled webhook now."""
        return self._call("POST", "/sandbox/flush")

    def stats(self) -> dict[str, Any]:
        """`GET /sandbox/stats`."""
        return self._call("GET", "/sandbox/stats")

    def ground_truth(self) -> dict[str, Any]:
        """`GET /sandbox/ground_truth`."""
        return self._call("GET", "/sandbox/ground_truth")

    def update_config(self, **changes: Any) -> dict[str, Any]:
        """`POST /sandbox/config` with runtime fields (faults, latency, limits, routing)."""
        return self._call("POST", "/sandbox/config", json=changes)


def main(argv: list[str] | None = None) -> None:
    """Command line: run the sandbox in the foreground."""
    parser = argparse.ArgumentParser(description="Local sandbox of 360dialog's MM API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8360)
    parser.add_argument("--config", type=Path, help="JSON file of SandboxConfig fields")
    parser.add_argument("--config-stdin", action="store_true", help="read the config JSON")
    parser.add_argument("--announce", action="store_true", help="print the bound port")
    args = parser.parse_args(argv)
    if args.config_stdin:
        config = SandboxConfig.model_validate_json(sys.stdin.read())
    elif args.config is not None:
        config = SandboxConfig.model_validate_json(args.config.read_text())
    else:
        config = SandboxConfig()
    sock = bind_and_announce(args.host, args.port, announce=args.announce)
    _run(uvicorn.Server(_uvicorn_config(config, args.host, sock.getsockname()[1])), [sock])


if __name__ == "__main__":
    main()
