"""A sink that POSTs each body to a webhook URL, as Meta does (the emitter retries failures)."""

from __future__ import annotations

import aiohttp

from .base import WebhookSink

__all__ = ["HttpSink"]


class HttpSink(WebhookSink):
    """POSTs bodies to `url` with aiohttp; any non-2xx answer or connection error is a failure.

    Attributes:
        url: The webhook receiver.
        timeout_seconds: Timeout of one POST.
        max_connections: Connections kept to the receiver.
    """

    concurrent = True

    def __init__(self, url: str, *, timeout_seconds: float, max_connections: int) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        # Made on first use: a session must be created inside the running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections),
                timeout=aiohttp.ClientTimeout(total=self.timeout_seconds),
            )
        return self._session

    async def deliver(self, body: bytes, headers: dict[str, str]) -> bool:
        """POST the body; True on a 2xx answer."""
        try:
            async with self._get_session().post(self.url, data=body, headers=headers) as answer:
                await answer.read()
                return 200 <= answer.status < 300
        except (TimeoutError, aiohttp.ClientError, OSError):
            return False

    async def aclose(self) -> None:
        """Close the connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None
