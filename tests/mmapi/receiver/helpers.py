"""Helpers of the receiver tests: an in-process receiver and reading its segments back."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from mmapi.receiver import QUARANTINE_DIRECTORY, Receiver, ReceiverConfig, create_app, receiver_of

APP_SECRET = "app-secret-for-tests"
D360_SECRET = "d360-secret-for-tests"
VERIFY_TOKEN = "verify-token-for-tests"


@asynccontextmanager
async def open_receiver(
    directory: Path, **fields: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Receiver]]:
    """The receiver app in this process (lifespan included) and a client talking to it."""
    app = create_app(ReceiverConfig(directory=directory, **fields))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
            yield client, receiver_of(app)


def stored_lines(directory: Path) -> list[dict[str, Any]]:
    """Every line of the receiver's segments, parsed, in file and line order."""
    lines = []
    for path in sorted(directory.glob("webhooks-*.ndjson")):
        lines += [orjson.loads(line) for line in path.read_bytes().splitlines() if line]
    return lines


def quarantined(directory: Path) -> list[dict[str, Any]]:
    """Every line of the quarantine segments, with `body` decoded from base64."""
    lines = []
    for path in sorted((directory / QUARANTINE_DIRECTORY).glob("quarantine-*.ndjson")):
        for line in path.read_bytes().splitlines():
            record = orjson.loads(line)
            record["body"] = base64.b64decode(record["body_b64"])
            lines.append(record)
    return lines


def without_receipt(line: dict[str, Any]) -> dict[str, Any]:
    """A stored line minus the receiver's `_mmflow` key: the body as posted."""
    return {key: value for key, value in line.items() if key != "_mmflow"}
