"""A sink that keeps bodies and headers in memory, for in-process tests."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from .base import WebhookSink

__all__ = ["CapturedWebhook", "MemorySink"]


@dataclass(frozen=True, slots=True)
class CapturedWebhook:
    """One delivered body with its headers.

    Attributes:
        body: The raw body.
        headers: The headers it was sent with.
    """

    body: bytes
    headers: dict[str, str]

    def json(self) -> dict:
        """The body parsed."""
        return orjson.loads(self.body)


class MemorySink(WebhookSink):
    """Keeps every body it takes; can refuse the first attempts to exercise retries.

    Attributes:
        received: Bodies taken, in delivery order.
        attempts: Deliveries tried, refused ones included.

    Example:
        >>> sink = MemorySink(refuse_first=1)
        >>> import asyncio
        >>> asyncio.run(sink.deliver(b"{}", {})), asyncio.run(sink.deliver(b"{}", {}))
        (False, True)
    """

    def __init__(self, *, refuse_first: int = 0) -> None:
        self.received: list[CapturedWebhook] = []
        self.attempts = 0
        self._refuse = refuse_first

    async def deliver(self, body: bytes, headers: dict[str, str]) -> bool:
        """Keep the body, unless it is one of the first `refuse_first` attempts."""
        self.attempts += 1
        if self.attempts <= self._refuse:
            return False
        self.received.append(CapturedWebhook(body, dict(headers)))
        return True
