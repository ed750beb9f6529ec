"""The receiver killed with SIGKILL under load: after a restart and a landing, every body that
was answered 200 is in the landed tables."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pyarrow.dataset as ds

from mmapi.landing import LandingConfig, land
from mmapi.receiver import ReceiverConfig, ReceiverServer
from mmapi.webhooks import sign_body

from .bodies import dumps, status, statuses_body
from .helpers import APP_SECRET

WORKERS = 32
KILL_AFTER_ACKS = 600


async def _load(
    server: ReceiverServer,
    prefix: str,
    acked: list[str],
    refused: list[int],
    *,
    kill_after: int | None = None,
    limit: int = 5000,
) -> int:
    """Post unique signed bodies from many connections until the server goes away or `limit`.

    With `kill_after`, the server is SIGKILLed as soon as that many bodies were answered 200,
    while the other connections still have bodies in flight; every connection goes on posting
    until one of its requests fails. Returns how many requests failed (no answer at all).
    """
    sent = 0
    failed = 0
    killed = False
    stop = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=WORKERS)
    timeout = aiohttp.ClientTimeout(total=5.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker(number: int) -> None:
            nonlocal sent, failed, killed
            n = 0
            while not stop.is_set() and sent < limit:
                wamid = f"wamid.{prefix}.{number}.{n}"
                n += 1
                body = dumps(statuses_body(status(wamid, "sent")))
                headers = {"X-Hub-Signature-256": sign_body(body, APP_SECRET)}
                sent += 1
                try:
                    async with session.post(
                        server.webhook_url, data=body, headers=headers
                    ) as answer:
                        await answer.read()
                        code = answer.status
                except (aiohttp.ClientError, OSError, TimeoutError):
                    failed += 1
                    stop.set()
                    return
                if code == 200:
                    acked.append(wamid)
                else:
                    refused.append(code)
                if kill_after is not None and len(acked) >= kill_after and not killed:
                    killed = True
                    server.kill()

        await asyncio.gather(*(worker(number) for number in range(WORKERS)))
    return failed


async def test_receiver_sigkill_under_load_loses_no_acknowledged_body(tmp_path: Path):
    raw = tmp_path / "raw"
    config = ReceiverConfig(directory=raw, app_secret=APP_SECRET)
    acked: list[str] = []
    refused: list[int] = []

    first = ReceiverServer(config).start()
    try:
        failed = await _load(first, "before", acked, refused, kill_after=KILL_AFTER_ACKS)
    finally:
        first.kill()
    killed_acks = len(acked)
    with ReceiverServer(config) as second:
        assert second.health()["writers"]["segments"]["lines"] == 0
        assert await _load(second, "after", acked, refused, limit=100) == 0

    summary = land(LandingConfig(source=str(raw), out=tmp_path / "lake")).as_dict()
    table = ds.dataset(tmp_path / "lake" / "events" / "statuses", partitioning="hive").to_table()
    landed = set(table.column("wamid").to_pylist())

    assert killed_acks >= KILL_AFTER_ACKS
    assert failed > 0  # the kill cut requests off
    assert refused == []
    assert set(acked) <= landed, f"{len(set(acked) - landed)} acknowledged bodies lost"
    assert summary["quarantined"] == 0  # the half-written tail was cut on restart
