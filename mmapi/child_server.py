"""Running one of the project's servers (sandbox, receiver) in a child process, for tests.

The child binds port 0 itself and announces the port on stdout, so two tests never race for a
port; its config (secrets included) crosses over a pipe, never argv or the environment.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

import httpx

__all__ = ["ChildServer", "bind_and_announce"]

READY_PREFIX = "LISTENING "


def bind_and_announce(host: str, port: int, *, announce: bool) -> socket.socket:
    """Bind the server's socket (port 0 = any free one) and, if asked, print its port.

    After the announcement stdout goes to stderr: nobody reads the pipe, and it must never fill.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    if announce:
        print(f"{READY_PREFIX}{sock.getsockname()[1]}", flush=True)
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return sock


class ChildServer:
    """A server started as `<main_module>.main()` in a child process on a free loopback port.

    Subclasses name the module, the health path, and how their config is written for the child
    (`config_json`).

    Attributes:
        host: The loopback address the child binds.
        port: The port it binds (0 = any free one).
        url: `http://host:port`, once started.
    """

    main_module: ClassVar[str]
    health_path: ClassVar[str]
    stop_timeout: ClassVar[float] = 10.0
    # A session of its own puts the child in a scheduling group of its own (Linux autogroup),
    # so its priority can be raised apart from the processes of the parent's session.
    own_session: ClassVar[bool] = False

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 20.0
    ) -> None:
        self.host = host
        # 0 = any free port. A fixed one lets a restarted server keep its URL (chaos runs).
        self.port = port
        self.startup_timeout = startup_timeout
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def config_json(self) -> str:
        """The child's config as JSON, secrets unwrapped (it goes over a pipe only)."""
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> Self:
        """Start the child process and wait until its health path answers."""
        # -c rather than -m: the package imports its server module, which -m would run twice.
        command = [sys.executable, "-c", f"from {self.main_module} import main; main()"]
        command += ["--host", self.host, "--port", str(self.port), "--config-stdin", "--announce"]
        # The child must import this very package, wherever the parent found it.
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=self.own_session,
        )
        if self._process.stdin is not None:
            self._process.stdin.write(self.config_json())
            self._process.stdin.close()
        self.url = f"http://{self.host}:{self._read_port()}"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                if httpx.get(f"{self.url}{self.health_path}", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self._process.poll() is not None:
                self.stop()
                raise RuntimeError(f"{self.main_module} did not become healthy at {self.url}")
            time.sleep(0.02)

    def _read_port(self) -> int:
        process = self._process
        if process is None or process.stdout is None:
            raise RuntimeError(f"{self.main_module} process is not running")
        stdout = process.stdout
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.startup_timeout)
        line = found[0] if found else ""
        if not line.startswith(READY_PREFIX):
            self.stop()
            raise RuntimeError(f"{self.main_module} process did not start (said {line!r})")
        return int(line[len(READY_PREFIX) :])

    def stop(self, timeout: float | None = None) -> int | None:
        """Stop gracefully (SIGTERM), then SIGKILL after `timeout` (default `stop_timeout`).

        Returns:
            The child's exit code, or None when it was not running.
        """
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        return process.returncode

    def kill(self) -> None:
        """SIGKILL the child at once: nothing is flushed, nothing is closed."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        # Started in a thread: a webhook receiver may run on the caller's event loop.
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
