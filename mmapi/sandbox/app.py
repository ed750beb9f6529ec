"""The sandbox as an ASGI app: 360dialog's send and template endpoints plus `/sandbox/*` controls.

Endpoints:

- `POST /marketing_messages`, `POST /messages`: send (header `D360-API-KEY`).
- `GET /v1/configs/templates`, `POST /v1/configs/templates`: list; create or change TTL.
- `GET /sandbox/health`, `GET /sandbox/stats`, `POST /sandbox/reset_stats`.
- `POST /sandbox/flush`: play the clock forward until every event is delivered.
- `GET /sandbox/ground_truth`: `{"messages": [...], "events": [...]}`.
- `GET /sandbox/config`, `POST /sandbox/config`: read or change runtime fields (faults...).

The send endpoints are plain ASGI callables, not Starlette request handlers: they are the
hot path, and a dropped connection needs control over what is (not) sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..settings import CLOUD_MESSAGES_PATH, MARKETING_MESSAGES_PATH, TEMPLATES_PATH
from .answers import INVALID_TOKEN_BODY, ErrorAnswer
from .config import SandboxConfig
from .runtime import Fault, SandboxRuntime
from .sinks import WebhookSink

__all__ = ["ABORT_EXTENSION", "create_app", "runtime_of", "sandbox_lifespan"]

# Scope extension through which the sandbox's uvicorn protocol lets the app drop a connection.
ABORT_EXTENSION = "mmapi.sandbox.abort"
_JSON_HEADERS = [(b"content-type", b"application/json")]


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


class _SendEndpoint:
    """`POST /marketing_messages` or `POST /messages` as a raw ASGI callable."""

    def __init__(self, runtime: SandboxRuntime, *, mm: bool) -> None:
        self.runtime = runtime
        self.mm = mm

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api_key = None
        for name, value in scope["headers"]:
            if name == b"d360-api-key":
                api_key = value
                break
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        runtime = self.runtime
        outcome = runtime.handle_send(mm=self.mm, api_key=api_key, raw=b"".join(chunks))
        config = runtime.config
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000.0)
        if outcome.fault is Fault.HANG:
            await asyncio.sleep(config.hang_seconds)
        elif outcome.fault is Fault.DROP:
            abort = scope.get("extensions", {}).get(ABORT_EXTENSION)
            if abort is not None:
                abort()
                return
            # No abortable server (e.g. httpx.ASGITransport in tests): raise what an httpx
            # client sees when the server closes without answering.
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        headers = [*_JSON_HEADERS, (b"content-length", str(len(outcome.body)).encode())]
        await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
        await send({"type": "http.response.body", "body": outcome.body})


class _SandboxApp(Starlette):
    """Starlette, with the send endpoints dispatched before routing and middleware.

    They are the hot path; routing and the middleware stack cost a third of a send's time.
    """

    def __init__(self, *, fast_routes: dict[str, ASGIApp], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fast_routes = fast_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self._fast_routes.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def runtime_of(app: Starlette) -> SandboxRuntime:
    """The `SandboxRuntime` behind an app made by `create_app`."""
    return app.state.sandbox


@asynccontextmanager
async def sandbox_lifespan(app: Starlette) -> AsyncIterator[Starlette]:
    """Run the app's lifespan (emitter loop) around in-process use.

    `httpx.ASGITransport` does not run the lifespan, so in-process tests wrap the client.

    Example:
        >>> async def demo():
        ...     app = create_app(SandboxConfig())
        ...     async with sandbox_lifespan(app):
        ...         transport = httpx.ASGITransport(app=app)
        ...         async with httpx.AsyncClient(transport=transport, base_url="http://sb") as c:
        ...             return (await c.get("/sandbox/health")).status_code
        >>> asyncio.run(demo())
        200
    """
    async with app.router.lifespan_context(app):
        yield app


def create_app(
    config: SandboxConfig | None = None, *, sink: WebhookSink | None = None
) -> Starlette:
    """Build the sandbox app.

    Args:
        config: What to simulate; the defaults when None.
        sink: Where webhooks go; by default from `config.webhook_url` / `webhook_dir`, else
            nowhere (the ground truth still records them). Tests pass a `MemorySink`.

    Returns:
        The Starlette app; its lifespan starts and stops the webhook emitter.
    """
    runtime = SandboxRuntime(config or SandboxConfig(), sink=sink)

    def unauthorized(request: Request) -> Response | None:
        if runtime.key_ok(request.headers.get("d360-api-key", "").encode() or None):
            return None
        return _json(INVALID_TOKEN_BODY, 401)

    async def read_json(request: Request) -> tuple[Any, Response | None]:
        try:
            return orjson.loads(await request.body()), None
        except orjson.JSONDecodeError:
            details = "(body): the request body is not valid JSON"
            return None, _json(ErrorAnswer(100, details).body(wrapped=False), 400)

    async def templates(request: Request) -> Response:
        if (refused := unauthorized(request)) is not None:
            return refused
        if request.method == "GET":
            return _json(runtime.list_templates())
        data, bad = await read_json(request)
        if bad is not None:
            return bad
        status, body = runtime.edit_template(data)
        return _json(body, status)

    async def health(request: Request) -> Response:
        return _json(
            {
                "status": "ok",
                "messages": runtime.truth.message_count,
                "sim_time": runtime.clock.now(),
            }
        )

    async def stats(request: Request) -> Response:
        return _json(runtime.stats_snapshot())

    async def reset_stats(request: Request) -> Response:
        runtime.stats.reset()
        return _json({"status": "ok"})

    async def flush(request: Request) -> Response:
        counters = await runtime.emitter.flush()
        return _json({**counters, "messages": runtime.truth.message_count})

    async def ground_truth(request: Request) -> Response:
        async def pieces() -> AsyncIterator[bytes]:
            for piece in runtime.truth.iter_json():
                yield piece
                await asyncio.sleep(0)  # let sends in between pieces of a big answer

        return StreamingResponse(pieces(), media_type="application/json")

    async def sandbox_config(request: Request) -> Response:
        if request.method == "POST":
            changes, bad = await read_json(request)
            if bad is not None:
                return bad
            if not isinstance(changes, dict):
                return _json({"error": "the body must be a JSON object of fields"}, 400)
            try:
                runtime.update_config(changes)
            except ValueError as exc:
                return _json({"error": str(exc)}, 400)
        return _json(runtime.config.runtime_values())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    fast_routes: dict[str, ASGIApp] = {
        MARKETING_MESSAGES_PATH: _SendEndpoint(runtime, mm=True),
        CLOUD_MESSAGES_PATH: _SendEndpoint(runtime, mm=False),
    }
    routes = [
        # Listed for the other methods' 405; POSTs never reach the router (see _SandboxApp).
        *(Route(path, endpoint, methods=["POST"]) for path, endpoint in fast_routes.items()),
        Route(TEMPLATES_PATH, templates, methods=["GET", "POST"]),
        Route("/sandbox/health", health),
        Route("/sandbox/stats", stats),
        Route("/sandbox/reset_stats", reset_stats, methods=["POST"]),
        Route("/sandbox/flush", flush, methods=["POST"]),
        Route("/sandbox/ground_truth", ground_truth),
        Route("/sandbox/config", sandbox_config, methods=["GET", "POST"]),
    ]
    app = _SandboxApp(fast_routes=fast_routes, routes=routes, lifespan=lifespan)
    app.state.sandbox = runtime
    return app
