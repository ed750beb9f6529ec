"""Workers of one campaign share its messages-per-second cap through the ledger.

Each worker heartbeats a row of the ledger's `send_workers` table and sets its throttle to
`cap / live workers`. A newcomer waits until the others have seen it (and slowed down)
before it sends, so their sum never goes over the cap; when a worker leaves, the others
take its share at their next heartbeat, or after `WORKER_TIMEOUT_SECONDS` if it died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .ledger import Ledger
from .throttle import Throttle

__all__ = ["HEARTBEAT_SECONDS", "WORKER_TIMEOUT_SECONDS", "RateShare"]

logger = logging.getLogger("mmapi.rate_share")

HEARTBEAT_SECONDS = 1.0
# A worker silent this long is gone (killed, or cut off): the others take its share.
WORKER_TIMEOUT_SECONDS = 5.0
# A newcomer waits this long before sending, so every other worker has had a heartbeat.
JOIN_WAIT_SECONDS = 2 * HEARTBEAT_SECONDS


class RateShare:
    """Keeps a worker's throttle at its share of the campaign's cap while it sends.

    Args:
        ledger: The campaign's (shared) ledger.
        campaign_id: The campaign.
        owner: This worker's name (unique per process).
        cap: The campaign's messages per second, for all workers together.
        throttle: This worker's throttle.

    Example:
        >>> async def send(ledger, client):
        ...     async with RateShare(ledger, "spring", "host-1-a", 1000, client.throttle):
        ...         ...  # send chunks
    """

    def __init__(
        self, ledger: Ledger, campaign_id: str, owner: str, cap: float, throttle: Throttle
    ):
        self.ledger = ledger
        self.campaign_id = campaign_id
        self.owner = owner
        self.cap = cap
        self.throttle = throttle
        self.workers = 1
        self._beating: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RateShare:
        await self._beat()
        if self.workers > 1:
            await asyncio.sleep(JOIN_WAIT_SECONDS)
            await self._beat()
        self._beating = asyncio.create_task(self._keep_beating())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
        await asyncio.to_thread(self.ledger.leave, self.campaign_id, self.owner)

    async def _keep_beating(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self._beat()
            except Exception as exc:  # keep the current share; the next beat tries again
                logger.warning("rate share heartbeat failed: %s", exc)

    async def _beat(self) -> None:
        workers = await asyncio.to_thread(
            self.ledger.heartbeat,
            self.campaign_id,
            self.owner,
            timeout_seconds=WORKER_TIMEOUT_SECONDS,
        )
        workers = max(1, workers)
        if workers != self.workers or self.throttle.ceiling != self.cap / workers:
            logger.info(
                "%s workers send campaign %s: %.1f messages/s each",
                workers,
                self.campaign_id,
                self.cap / workers,
            )
            self.throttle.set_ceiling(self.cap / workers)
        self.workers = workers
