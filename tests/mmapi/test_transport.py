"""AiohttpTransport against a bare TCP server: when requests depart, as the server sees them."""

from __future__ import annotations

import asyncio

import httpx

from mmapi import ClientConfig, MarketingMessageRequest, MMClient, Throttle
from mmapi.throttle import Departure
from mmapi.transport import DEPART_EXTENSION, AiohttpTransport

_BODY = b'{"messaging_product":"whatsapp","contacts":[],"messages":[{"id":"wamid.X"}]}'
_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(_BODY),
    _BODY,
)


class _Server:
    """Records when each connection opened and when each request's first bytes arrived."""

    def __init__(self) -> None:
        self.connected: list[float] = []
        self.arrived: list[float] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        self.connected.append(loop.time())
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            self.arrived.append(loop.time())
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            writer.write(_ANSWER)
            await writer.drain()
        writer.close()


async def _serve(server: _Server) -> tuple[asyncio.Server, str]:
    tcp = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    return tcp, f"http://127.0.0.1:{tcp.sockets[0].getsockname()[1]}"


async def test_the_transport_awaits_departure_once_connected_and_before_writing():
    server = _Server()
    tcp, url = await _serve(server)
    loop = asyncio.get_running_loop()
    departed: list[float] = []
    departure = Departure(0.0, loop.time)

    async def depart() -> Departure:
        await asyncio.sleep(0.3)
        departed.append(loop.time())
        return departure

    transport = AiohttpTransport(max_connections=1)
    try:
        request = httpx.Request("POST", url + "/marketing_messages", content=b"{}")
        request.extensions[DEPART_EXTENSION] = depart
        response = await transport.handle_async_request(request)
    finally:
        await transport.aclose()
        tcp.close()
    assert response.status_code == 200
    assert server.connected[0] < departed[0] <= server.arrived[0]
    assert departed[0] <= departure.at  # the write was reported to the departure


async def test_client_sends_at_most_the_ceiling_in_any_window_of_1_s_plus_jitter():
    server = _Server()
    tcp, url = await _serve(server)
    throttle = Throttle(rate=5, max_in_flight=5, arrival_jitter=0.5)
    config = ClientConfig(api_key="k" * 32, base_url=url, max_in_flight=5)
    request = MarketingMessageRequest(
        to="4915112345678", template={"name": "spring_sale", "language": {"code": "en"}}
    )
    try:
        async with MMClient(config, throttle=throttle) as client:
            await asyncio.gather(*(client.send_marketing_message(request) for _ in range(11)))
    finally:
        tcp.close()
    arrived = sorted(server.arrived)
    # Departures: 5 at once, 5 after 1.5 s, 1 after 3 s (a 1 s window would take 2 s).
    assert arrived[-1] - arrived[0] >= 2.9
    # Arrivals lag departures by a varying delay, well under the 0.5 s of room.
    assert all(later - earlier >= 1.2 for earlier, later in zip(arrived, arrived[5:], strict=False))
