"""The lines the receiver writes: each is the webhook body itself, plus what the receiver saw.

A stored line is the body's own JSON object with one key added in front, `_mmflow`, holding
the receive time and the kept headers::

    {"_mmflow":{"received_at":"2026-09-01T12:00:00.123456Z","headers":{...}},"object":...}

so a segment is itself an export of webhook bodies that any NDJSON reader can take, and the
landing reads the receive time from the same line. The body's bytes are kept as they came,
except that CR and LF (which valid JSON can hold only as whitespace) become spaces, so that
one body stays one line.

Bodies refused as not JSON are kept whole in quarantine lines, base64-encoded::

    {"received_at":"...","reason":"not valid JSON: ...","headers":{...},"body_b64":"..."}
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = [
    "RECEIVED_KEY",
    "check_body",
    "format_received_at",
    "quarantine_line",
    "received_line",
]

RECEIVED_KEY = "_mmflow"
_WHITESPACE = b" \t\r\n"
_NEWLINES = bytes.maketrans(b"\r\n", b"  ")


def format_received_at(moment: datetime) -> str:
    """A UTC time as ISO 8601 with microseconds and a `Z`.

    Example:
        >>> format_received_at(datetime(2026, 9, 1, 12, tzinfo=UTC))
        '2026-09-01T12:00:00.000000Z'
    """
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def check_body(body: bytes) -> str | None:
    """Why a body cannot be stored as a webhook line, or None when it can.

    Args:
        body: The raw request body.

    Returns:
        `None` for a JSON object; otherwise a short reason (empty, not JSON, not an object).
    """
    if not body.strip(_WHITESPACE):
        return "empty body"
    try:
        value: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return f"not valid JSON: {exc}"
    if not isinstance(value, dict):
        return f"not a JSON object (a {type(value).__name__})"
    return None


def received_line(body: bytes, *, received_at: datetime, headers: dict[str, str]) -> bytes:
    """The NDJSON line stored for an accepted body (see the module docstring).

    Args:
        body: A body for which `check_body` returned None.
        received_at: When it arrived.
        headers: The kept request headers.

    Returns:
        One line, ending in a newline.
    """
    meta = orjson.dumps({"received_at": format_received_at(received_at), "headers": headers})
    inner = body.strip(_WHITESPACE)[1:].translate(_NEWLINES)
    prefix = b'{"' + RECEIVED_KEY.encode() + b'":' + meta
    if inner.lstrip(_WHITESPACE).startswith(b"}"):
        return prefix + b"}\n"
    return prefix + b"," + inner + b"\n"


def quarantine_line(
    body: bytes, *, received_at: datetime, headers: dict[str, str], reason: str
) -> bytes:
    """The NDJSON line kept for a body refused as not JSON.

    Args:
        body: The raw request body, any bytes.
        received_at: When it arrived.
        headers: The kept request headers.
        reason: Why it was refused.

    Returns:
        One line, ending in a newline.
    """
    record = {
        "received_at": format_received_at(received_at),
        "reason": reason,
        "headers": headers,
        "body_b64": base64.b64encode(body).decode("ascii"),
    }
    return orjson.dumps(record) + b"\n"
