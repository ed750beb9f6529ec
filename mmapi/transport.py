"""An httpx transport on aiohttp's connection pool, with errors mapped by *whether bytes left*.

Why not httpx's own pool: at 200 requests in flight and 100 ms latency it gave under 100
requests/s here, with ReadErrors; aiohttp's pool sustains well over 1,000 (see
`benchmarks/send_client.py`, which measures both in one run).

Why not the `httpx-aiohttp` package: it maps aiohttp's `ServerDisconnectedError` (the server
closed the connection after the request was written) to `httpx.ConnectTimeout`, which reads as
"never sent". For a sender that must never send twice, that is the one mistake that matters:
here a failure before the request was written is a `ConnectError`/`PoolTimeout` (safe to send
again) and anything after is a `ReadError`/`ReadTimeout`/`RemoteProtocolError` (outcome
unknown).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import httpx

from .throttle import Departure

__all__ = ["DEPART_EXTENSION", "AiohttpTransport"]

# A request extension: a coroutine function (`Throttle.depart`) the transport awaits once the
# request has a connection, right before its bytes are written; it reports the write to the
# `Departure` it returns (see `AiohttpTransport`).
DEPART_EXTENSION = "mmapi.depart"

# Shorter than common server keep-alive timeouts (uvicorn: 5 s), so the pool rarely reuses a
# connection the server is closing; such a reuse would turn into a needless "unknown" outcome.
KEEPALIVE_SECONDS = 4.0


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Send httpx requests through one `aiohttp.ClientSession`.

    A request carrying the `DEPART_EXTENSION` waits for it once aiohttp has a connection for
    it, in the same step of the event loop as the write of its headers and body: a throttle
    that counts departures there counts what the API will count, not requests that still wait
    for the event loop to get to them (at 1,000/s, a 50 ms pause of the loop bunched 50 of
    them).

    Attributes:
        awaits_departure: True: this transport awaits `DEPART_EXTENSION` itself.

    Args:
        max_connections: Size of the connection pool (at least the in-flight limit).
        keepalive_seconds: How long an idle connection is kept.

    Example:
        >>> client = httpx.AsyncClient(transport=AiohttpTransport(max_connections=200))
    """

    awaits_departure = True

    def __init__(self, *, max_connections: int = 200, keepalive_seconds: float = KEEPALIVE_SECONDS):
        self._max_connections = max_connections
        self._keepalive_seconds = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                keepalive_timeout=self._keepalive_seconds,
                enable_cleanup_closed=True,
            )
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("pool"),
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        session = self._get_session()
        body: bytes | aiohttp.BytesPayload | None = await request.aread() or None
        depart: Callable[[], Awaitable[Departure]] | None = request.extensions.get(DEPART_EXTENSION)
        if depart is not None:
            if body is None:
                await depart()
            else:
                body = _DepartingBody(body, depart)
        try:
            async with session.request(
                request.method,
                str(request.url),
                headers=list(request.headers.multi_items()),
                data=body,
                allow_redirects=False,
                timeout=timeout,
            ) as response:
                content = await response.read()
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            # Waiting for a pooled connection or for the TCP handshake: nothing was written.
            raise httpx.ConnectTimeout(str(exc), request=request) from exc
        except (TimeoutError, aiohttp.SocketTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except (aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
            raise httpx.ReadError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            # Any other client error happened after the connection was open: unknown outcome.
            raise httpx.ReadError(str(exc), request=request) from exc
        # aiohttp already decoded any content encoding; don't let httpx decode it again.
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-encoding"]
        return httpx.Response(
            status_code=response.status,
            headers=headers,
            content=content,
            request=request,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _DepartingBody(aiohttp.BytesPayload):
    """A request body that waits for its departure right before it is written.

    aiohttp writes a body once the connection is ready, with the headers it held back (one
    write), in a task of its own: waiting there rather than in a hook before that task leaves
    no turn of the event loop between the departure and the bytes leaving.
    """

    def __init__(self, value: bytes, depart: Callable[[], Awaitable[Departure]]):
        super().__init__(value)
        self._depart = depart

    async def write_with_length(
        self, writer: aiohttp.abc.AbstractStreamWriter, content_length: int | None
    ) -> None:
        departure = await self._depart()
        await super().write_with_length(writer, content_length)
        departure.written()  # a small body goes out in the write call itself
