"""The receiver as an ASGI app: store each webhook durably, then answer.

Endpoints:

- `POST <path>`: the body is checked (size, signatures, JSON object), appended to the current
  segment and synced, then answered 200. 413 over `max_body_bytes`, 401 for a bad or missing
  signature (nothing stored), 400 for a body that is not a JSON object (its bytes go to the
  quarantine segment), 503 only when the disk refuses the write (the sender retries).
- `GET <path>`: Meta's verification handshake (`hub.mode`, `hub.verify_token`,
  `hub.challenge`).
- `GET /health`: status, current segment and counters as JSON; `GET /metrics`: Prometheus.

The webhook path is a plain ASGI callable dispatched before Starlette's routing, like the
sandbox's send endpoints: it is the hot path. Bad input never raises: every branch answers.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..settings import D360_SIGNATURE_HEADER, WEBHOOK_SIGNATURE_HEADER
from .config import ReceiverConfig
from .metrics import ReceiverMetrics
from .record import check_body, quarantine_line, received_line
from .segments import SegmentWriter
from .signatures import verify_d360_signature, verify_hub_signature

__all__ = ["QUARANTINE_DIRECTORY", "Receiver", "create_app", "receiver_of"]

logger = logging.getLogger(__name__)

QUARANTINE_DIRECTORY = "quarantine"
_HUB_HEADER = WEBHOOK_SIGNATURE_HEADER.lower().encode()
_D360_HEADER = D360_SIGNATURE_HEADER.lower().encode()
_MAX_CHALLENGE = 512
_JSON = [(b"content-type", b"application/json")]


def _answer_body(status: str, detail: str | None = None) -> bytes:
    answer = {"status": status} if detail is None else {"status": status, "detail": detail}
    return orjson.dumps(answer)


_STORED = _answer_body("stored")


class Receiver:
    """The receiver's state: its segment writers and counters, and the webhook endpoint.

    Attributes:
        config: The configuration.
        writer: Segments of accepted bodies.
        quarantine: Segments of bodies refused as not JSON.
        metrics: Counters.
    """

    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        common = {"max_bytes": config.segment_max_bytes, "max_seconds": config.segment_max_seconds}
        self.writer = SegmentWriter(config.directory, fsync=config.fsync, **common)
        self.quarantine = SegmentWriter(
            config.directory / QUARANTINE_DIRECTORY,
            prefix="quarantine",
            fsync=config.fsync,
            **common,
        )
        self.metrics = ReceiverMetrics()
        self._kept = {name.encode("latin-1") for name in config.kept_headers}

    async def start(self) -> None:
        """Open the segment writers (repairing what a killed predecessor left)."""
        await self.writer.start()
        await self.quarantine.start()

    async def stop(self) -> None:
        """Sync everything queued and close the segments."""
        await self.writer.close()
        await self.quarantine.close()

    def writer_stats(self) -> dict[str, Any]:
        """The segment writers' counters by name."""
        return {"segments": self.writer.stats, "quarantine": self.quarantine.stats}

    # The webhook endpoint.

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "POST":
            await self._post(scope, receive, send)
        elif method in ("GET", "HEAD"):
            await self._verify(scope, send)
        else:
            self.metrics.count("method_not_allowed")
            await _send(send, 405, _answer_body("method not allowed"), [(b"allow", b"GET, POST")])

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        config = self.config
        metrics = self.metrics
        kept: dict[str, str] = {}
        declared: bytes | None = None
        hub_signature = d360_signature = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == _HUB_HEADER:
                hub_signature = value.decode("latin-1")
            elif name == _D360_HEADER:
                d360_signature = value.decode("latin-1")
            if name in self._kept:
                kept[name.decode("latin-1")] = value.decode("latin-1")
        if declared is not None:
            if not declared.isdigit():
                metrics.count("bad_request")
                await _send(send, 400, _answer_body("bad request", "invalid Content-Length"))
                return
            if int(declared) > config.max_body_bytes:
                metrics.count("too_large")
                await _send(send, 413, _answer_body("too large"))
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > config.max_body_bytes:
                metrics.count("too_large")
                await _send(send, 413, _answer_body("too large"))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)

        if not self._signed(body, hub_signature, d360_signature):
            metrics.count("bad_signature")
            await _send(send, 401, _answer_body("bad signature"))
            return
        received_at = datetime.now(UTC)
        problem = check_body(body)
        if problem is not None:
            metrics.count("not_json")
            line = quarantine_line(body, received_at=received_at, headers=kept, reason=problem)
            try:
                await self.quarantine.append(line)
            except OSError:
                logger.exception("quarantine segment write failed")
            await _send(send, 400, _answer_body("not a JSON object", problem[:200]))
            return
        try:
            await self.writer.append(received_line(body, received_at=received_at, headers=kept))
        except OSError:
            metrics.count("storage_error")
            await _send(send, 503, _answer_body("storage unavailable"), [(b"retry-after", b"1")])
            return
        await _send(send, 200, _STORED)
        metrics.count("stored", seconds=time.perf_counter() - started, size=len(body))

    def _signed(self, body: bytes, hub: str | None, d360: str | None) -> bool:
        config = self.config
        if config.app_secret is not None and not verify_hub_signature(body, hub, config.app_secret):
            return False
        if config.d360_secret is not None:
            return verify_d360_signature(body, d360, config.d360_secret)
        return True

    async def _verify(self, scope: Scope, send: Send) -> None:
        token = self.config.verify_token
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        mode = query.get("hub.mode", [""])[0]
        given = query.get("hub.verify_token", [""])[0]
        challenge = query.get("hub.challenge", [""])[0]
        accepted = (
            token is not None
            and mode == "subscribe"
            and bool(challenge)
            and len(challenge) <= _MAX_CHALLENGE
            and hmac.compare_digest(given.encode(), token.get_secret_value().encode())
        )
        if not accepted:
            self.metrics.count("verify_refused")
            await _send(send, 403, _answer_body("verification refused"))
            return
        self.metrics.count("verify_ok")
        await _send(send, 200, challenge.encode(), content_type=b"text/plain; charset=utf-8")


async def _send(
    send: Send,
    status: int,
    body: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
    *,
    content_type: bytes = b"application/json",
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _ReceiverApp(Starlette):
    """Starlette, with the webhook path dispatched before routing and middleware."""

    def __init__(self, *, receiver: Receiver, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._receiver = receiver
        self._path = receiver.config.path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self._path:
            await self._receiver(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def receiver_of(app: Starlette) -> Receiver:
    """The `Receiver` behind an app made by `create_app`."""
    return app.state.receiver


def create_app(config: ReceiverConfig) -> Starlette:
    """Build the receiver app; its lifespan opens and (gracefully) closes the segments.

    Args:
        config: Where to write, limits, secrets.

    Returns:
        The Starlette app.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> app = create_app(ReceiverConfig(directory=Path(tempfile.mkdtemp())))
        >>> receiver_of(app).config.path
        '/webhook'
    """
    receiver = Receiver(config)

    async def health(request: Request) -> Response:
        writer = receiver.writer
        segment = writer.current_segment
        data = {
            "status": "ok",
            "segment": segment.name if segment is not None else None,
            **receiver.metrics.snapshot(receiver.writer_stats()),
        }
        return Response(orjson.dumps(data), media_type="application/json")

    async def metrics(request: Request) -> Response:
        text = receiver.metrics.prometheus(receiver.writer_stats())
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await receiver.start()
        logger.info("receiver writing to %s", config.directory)
        try:
            yield
        finally:
            await receiver.stop()
            logger.info("receiver stopped: %s", dict(receiver.metrics.outcomes))

    routes = [Route("/health", health), Route("/metrics", metrics)]
    app = _ReceiverApp(receiver=receiver, routes=routes, lifespan=lifespan)
    app.state.receiver = receiver
    return app
