"""The sandbox over loopback, in its own process, posting signed webhooks to a receiver."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mmapi.sandbox import SandboxConfig, SandboxServer
from mmapi.settings import WEBHOOK_SIGNATURE_HEADER
from mmapi.webhooks import WebhookPayload, verify_signature

from .helpers import spring_sale

SECRET = "receiver-secret"


class Receiver:
    """A tiny webhook receiver on a loopback port, in a thread; fails its first answer."""

    def __init__(self) -> None:
        self.bodies: list[tuple[bytes, str | None]] = []
        self.refused = 0

        async def hook(request: Request) -> Response:
            if self.refused == 0:  # Meta retries non-2xx answers
                self.refused += 1
                return Response(status_code=503)
            body = await request.body()
            self.bodies.append((body, request.headers.get(WEBHOOK_SIGNATURE_HEADER)))
            return Response(status_code=200)

        app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def test_server_posts_signed_webhooks_and_drops_connections(receiver: Receiver) -> None:
    config = SandboxConfig(
        seed=4,
        webhook_url=receiver.url,
        webhook_secret=SECRET,
        webhook_retry_base_seconds=0.01,
        p_duplicate=0.2,
        latency_ms=5,
    )
    with SandboxServer(config) as server:
        headers = {"D360-API-KEY": server.api_key}
        with httpx.Client(base_url=server.url, headers=headers) as client:
            for i in range(20):
                answer = client.post("/marketing_messages", json=spring_sale(f"+4915100{i:06d}"))
                assert answer.status_code == 200
            assert client.post(
                "/messages", json=spring_sale(), headers={"D360-API-KEY": "x"}
            ).json() == {"error": "Invalid api token."}
            server.update_config(p_accept_then_drop=1.0)
            with pytest.raises(httpx.RemoteProtocolError):
                client.post("/marketing_messages", json=spring_sale())
        flushed = server.flush()
        truth = server.ground_truth()
        stats = server.stats()
    assert flushed["retries"] >= 1
    assert flushed["failed_bodies"] == 0
    assert len(truth["messages"]) == 21 == stats["accepted"]
    assert stats["faults"] == {"accept_then_drop": 1}
    assert len(receiver.bodies) == flushed["bodies_delivered"]
    statuses = 0
    for body, signature in receiver.bodies:
        assert verify_signature(body, signature, SECRET)
        statuses += len(WebhookPayload.model_validate_json(body).statuses())
    assert statuses == sum(e["kind"] == "status" for e in truth["events"])
    assert any(e["duplicate"] for e in truth["events"])


async def test_server_drop_seen_by_aiohttp_as_disconnect() -> None:
    async with SandboxServer(SandboxConfig(p_accept_then_drop=1.0)) as server:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await session.post(
                    f"{server.url}/marketing_messages",
                    json=spring_sale(),
                    headers={"D360-API-KEY": server.api_key},
                )
        async with httpx.AsyncClient() as client:
            stats = (await client.get(f"{server.url}/sandbox/stats")).json()
        assert stats["accepted"] == 1


def test_run_ahead_raises_the_sandbox_and_its_scheduling_group() -> None:
    with SandboxServer(SandboxConfig()) as sandbox:
        assert sandbox.pid is not None
        # A session of its own: Linux schedules it as a group apart from this process's.
        assert os.getsid(sandbox.pid) == sandbox.pid != os.getsid(0)
        if not sandbox.run_ahead(niceness=-5):
            assert os.geteuid() != 0, "run_ahead failed as root"
            return
        assert os.getpriority(os.PRIO_PROCESS, sandbox.pid) == -5
        autogroup = Path(f"/proc/{sandbox.pid}/autogroup")
        if autogroup.exists():
            assert autogroup.read_text().split()[1:] == ["nice", "-5"]  # "/autogroup-N nice -5"
        assert httpx.get(f"{sandbox.url}/sandbox/health").status_code == 200
