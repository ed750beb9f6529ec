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
import sys
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from ..child_server import ChildServer, bind_and_announce
from .app import QUARANTINE_DIRECTORY, create_app
from .config import ReceiverConfig
from .segments import check_directory

__all__ = ["ReceiverServer", "main", "serve"]

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


class ReceiverServer(ChildServer):
    """The receiver in a separate process on a free loopback port, for tests and benchmarks.

    Attributes:
        config: Where to write, limits, secrets.
        host: The loopback address it binds.
        port: The port it binds (0 = any free one; give the old one to restart in place).
        url: `http://host:port`, once started.

    Example:
        >>> with ReceiverServer(ReceiverConfig(directory=Path("raw"))) as server:  # doctest: +SKIP
        ...     httpx.get(f"{server.url}/health").json()["status"]
        'ok'
    """

    main_module = "mmapi.receiver.server"
    health_path = "/health"
    stop_timeout = 15.0

    def __init__(
        self,
        config: ReceiverConfig,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 20.0,
    ) -> None:
        super().__init__(host=host, port=port, startup_timeout=startup_timeout)
        self.config = config

    @property
    def webhook_url(self) -> str:
        """The URL webhooks are posted to."""
        return f"{self.url}{self.config.path}"

    def config_json(self) -> str:
        return _config_json(self.config)

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
    sock = bind_and_announce(args.host, args.port, announce=args.announce)
    server = uvicorn.Server(_uvicorn_config(config, args.host, sock.getsockname()[1]))
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(1)


if __name__ == "__main__":
    main()
