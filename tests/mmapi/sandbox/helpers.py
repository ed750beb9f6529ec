"""Helpers of the sandbox tests: send bodies and an in-process sandbox with a memory sink."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from mmapi.sandbox import (
    DEFAULT_API_KEY,
    MemorySink,
    SandboxConfig,
    SandboxRuntime,
    create_app,
    runtime_of,
    sandbox_lifespan,
)

# Quiet defaults: no random recipient failures or disorder unless a test asks for them.
QUIET = {
    "seed": 11,
    "p_invalid_number": 0.0,
    "p_opted_out": 0.0,
    "p_user_limit": 0.0,
    "p_duplicate": 0.0,
    "p_late": 0.0,
    "p_stop_after_read": 0.0,
}


def spring_sale(to: str = "+4915112345678", **extra: Any) -> dict[str, Any]:
    """A valid spring_sale send body (image header, 2 body parameters, URL button)."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {
            "name": "spring_sale",
            "language": {"code": "en", "policy": "deterministic"},
            "components": [
                {
                    "type": "header",
                    "parameters": [{"type": "image", "image": {"link": "https://x.test/a.jpg"}}],
                },
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Ana"},
                        {"type": "text", "text": "20%"},
                    ],
                },
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "0",
                    "parameters": [{"type": "text", "text": "tok1"}],
                },
            ],
        },
        **extra,
    }


def order_update(to: str = "+4915112345678") -> dict[str, Any]:
    """A valid order_update (UTILITY) send body."""
    return {
        "to": to,
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "en"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "A1"},
                        {"type": "text", "text": "sent"},
                    ],
                }
            ],
        },
    }


@dataclass
class Sandbox:
    """An in-process sandbox: its runtime, memory sink and a client with the right key."""

    runtime: SandboxRuntime
    sink: MemorySink
    client: httpx.AsyncClient

    async def send(self, body: dict[str, Any], *, mm: bool = True) -> httpx.Response:
        return await self.client.post("/marketing_messages" if mm else "/messages", json=body)

    async def flush(self) -> dict[str, Any]:
        answer = await self.client.post("/sandbox/flush")
        assert answer.status_code == 200
        return answer.json()

    async def ground_truth(self) -> dict[str, Any]:
        return (await self.client.get("/sandbox/ground_truth")).json()

    async def stats(self) -> dict[str, Any]:
        return (await self.client.get("/sandbox/stats")).json()


SandboxFactory = Callable[..., AbstractAsyncContextManager[Sandbox]]


@asynccontextmanager
async def open_sandbox(
    *, sink: MemorySink | Literal["memory"] | None = "memory", **fields: Any
) -> AsyncIterator[Sandbox]:
    """Run an in-process sandbox (lifespan included): `QUIET` defaults updated by `fields`.

    Webhooks go to a new `MemorySink` by default, to `sink` when given, or, with
    `sink=None`, where the config says (`webhook_dir`, `webhook_url`, or nowhere).
    """
    memory = MemorySink() if sink == "memory" else sink
    app = create_app(SandboxConfig(**{**QUIET, **fields}), sink=memory)
    async with sandbox_lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://sandbox.test",
            headers={"D360-API-KEY": DEFAULT_API_KEY},
        ) as client:
            yield Sandbox(runtime_of(app), memory or MemorySink(), client)
