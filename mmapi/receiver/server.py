"""Running the receiver: `serve` in this process, or `ReceiverServer` in a child process.

uvicorn runs one process with one event loop (uvloop when installed): the segment writer
must be the only writer of its directory, and one loop answers thousands of bodies a second.
On SIGTERM or SIGINT uvicorn stops accepting, finishes the requests in flight, and the app's
lifespan syncs and closes the segments.

Run from a shell: `python -m mmapi.receiver --dir raw --port 8080` (secrets from the
environment, see `mmflow webhooks serve`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from .app import QUARANTINE_DIRECTORY, create_app
from .config import ReceiverConfig
from .segments import check_directory

__all__ = ["ReceiverServer", "main", "serve"]

_READY_PREFIX = "RECEIVER_LISTENING "
_SECRET_FIELDS = ("app_secret", "d360_secret", "verify_token")


def _uvicorn_config(config: ReceiverConfig, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(config),
        host=host,
        port=port,
        loop="auto",
        http="auto",
        lifespan="on",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_level="warning",
        backlog=4096,
        timeout_graceful_shutdown=10,
    )


def serve(config: ReceiverConfig, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run the receiver until interrupted (blocking).

    Args:
        config: Where to write, limits, secrets.
        host: Address to bind.
        port: Port to bind.

    Raises:
        BlockingIOError: another receiver writes to the same directory.
        OSError: the directory is not writable, or the address cannot be bound.
    """
    check_directory(config.directory)
    check_directory(config.directory / QUARANTINE_DIRECTORY)
    server = uvicorn.Server(_uvicorn_config(config, host, port))
    server.run()
    if not server.started:
        raise OSError(f"the receiver did not start on {host}:{port} (see the log above)")


def _config_json(config: ReceiverConfig) -> str:
    # Secrets unwrapped only here, to cross into the child over a pipe (never argv or env).
    data = config.model_dump(mode="json")
    for name in _SECRET_FIELDS:
        secret = getattr(config, name)
        data[name] = secret.get_secret_value() if secret is not None else None
    return json.dumps(data)


class ReceiverServer:
    """The receiver in a separate process on a free loopback port, for tests and benchmarks.

    Attributes:
        config: Where to write, limits, secrets.
        host: The loopback address it binds.
        url: `http://host:port`, once started.

    Example:
        >>> with ReceiverServer(ReceiverConfig(directory=Path("raw"))) as server:  # doctest: +SKIP
        ...     httpx.get(f"{server.url}/health").json()["status"]
        'ok'
    """

    def __init__(
        self, config: ReceiverConfig, *, host: str = "127.0.0.1", startup_timeout: float = 20.0
    ) -> None:
        self.config = config
        self.host = host
        self.startup_timeout = startup_timeout
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    @property
    def webhook_url(self) -> str:
        """The URL webhooks are posted to."""
        return f"{self.url}{self.config.path}"

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> ReceiverServer:
        """Start the child process and wait until `/health` answers."""
        command = [sys.executable, "-c", "from mmapi.receiver.server import main; main()"]
        command += ["--host", self.host, "--port", "0", "--config-stdin", "--announce"]
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert self._process.stdin is not None
        self._process.stdin.write(_config_json(self.config))
        self._process.stdin.close()
        port = self._read_port()
        self.url = f"http://{self.host}:{port}"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self._process.poll() is not None:
                self.stop()
                raise RuntimeError(f"receiver did not become healthy at {self.url}")
            time.sleep(0.02)

    def _read_port(self) -> int:
        process = self._process
        if process is None or process.stdout is None:
            raise RuntimeError("receiver process is not running")
        stdout = process.stdout
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.startup_timeout)
        line = found[0] if found else ""
        if not line.startswith(_READY_PREFIX):
            self.stop()
            raise RuntimeError(f"receiver process did not start (said {line!r})")
        return int(line[len(_READY_PREFIX) :])

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stop gracefully (SIGTERM: finish requests, sync, close); SIGKILL after `timeout`.

        Returns:
            The child's exit code, or None when it was not running.
        """
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
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

    def __enter__(self) -> ReceiverServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def health(self) -> dict[str, Any]:
        """`GET /health`."""
        answer = httpx.get(f"{self.url}/health", timeout=10.0)
        answer.raise_for_status()
        return answer.json()


def main(argv: list[str] | None = None) -> None:
    """Command line: run the receiver in the foreground (secrets from the environment)."""
    parser = argparse.ArgumentParser(description="Durable receiver of WhatsApp webhooks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--dir", type=Path, help="folder of the NDJSON segments")
    parser.add_argument("--config-stdin", action="store_true", help="read the config as JSON")
    parser.add_argument("--announce", action="store_true", help="print the bound port")
    args = parser.parse_args(argv)
    if args.config_stdin:
        config = ReceiverConfig.model_validate_json(sys.stdin.read())
    elif args.dir is not None:
        config = ReceiverConfig(
            directory=args.dir,
            app_secret=os.environ.get("MMFLOW_WEBHOOK_APP_SECRET"),
            d360_secret=os.environ.get("MMFLOW_WEBHOOK_360DIALOG_SECRET"),
            verify_token=os.environ.get("MMFLOW_WEBHOOK_VERIFY_TOKEN"),
        )
    else:
        parser.error("give --dir or --config-stdin")
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    if args.announce:
        print(f"{_READY_PREFIX}{sock.getsockname()[1]}", flush=True)
        # From here stdout goes to stderr: nobody reads the pipe, and it must never fill.
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    server = uvicorn.Server(_uvicorn_config(config, args.host, sock.getsockname()[1]))
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(1)


if __name__ == "__main__":
    main()
