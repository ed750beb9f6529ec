"""Workers of one campaign share its messages-per-second cap through the ledger.

Each worker heartbeats a row of the ledger's `send_workers` table, saying how many workers
its rate assumes, and sets its throttle to `cap / live workers` (less `SHARED_HEADROOM` when
there are several). A newcomer sends only once every live worker assumes it is there (each has
slowed down to its new share), so together they never go over the cap; when a worker leaves,
the others take its share at their next heartbeat, or after `WORKER_TIMEOUT_SECONDS` if it died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from .ledger import Ledger
from .throttle import Throttle

__all__ = [
    "HEARTBEAT_SECONDS",
    "JOIN_TIMEOUT_SECONDS",
    "SHARED_HEADROOM",
    "WORKER_TIMEOUT_SECONDS",
    "RateShare",
]

logger = logging.getLogger("mmapi.rate_share")

HEARTBEAT_SECONDS = 1.0
# A worker silent this long is gone (killed, or cut off): the others take its share.
WORKER_TIMEOUT_SECONDS = 5.0
# A newcomer waits at most this long for the others to slow down (longer: they are gone).
JOIN_TIMEOUT_SECONDS = WORKER_TIMEOUT_SECONDS
JOIN_POLL_SECONDS = 0.2
# Share of the cap left unused when several workers send. Each worker's throttle allows for
# its own requests bunching on the way (`arrival_jitter_seconds`), but requests from separate
# processes or hosts are delayed independently, so they bunch more at the API: three workers
# on this 2-core host reached 1,010 in one second of 1,000 without it (benchmarks/scaleout.py).
SHARED_HEADROOM = 0.05


class RateShare:
    """Keeps a worker's throttle at its share of the campaign's cap while it sends.

    Args:
        ledger: The campaign's (shared) ledger.
        campaign_id: The campaign.
        owner: This worker's name (unique per process).
        cap: The campaign's messages per second, for all workers together.
        throttle: This worker's throttle.
        log: Where changes of the share are reported (default: this module's logger).
        lease_seconds: When given, each heartbeat also extends the leases of the chunks this
            worker holds by that long (see `Ledger.heartbeat`).

    Example:
        >>> async def send(ledger, client):
        ...     async with RateShare(ledger, "spring", "host-1-a", 1000, client.throttle):
        ...         ...  # send chunks
    """

    def __init__(
        self,
        ledger: Ledger,
        campaign_id: str,
        owner: str,
        cap: float,
        throttle: Throttle,
        log: logging.Logger | logging.LoggerAdapter[Any] = logger,
        lease_seconds: float | None = None,
    ):
        self.ledger = ledger
        self.campaign_id = campaign_id
        self.owner = owner
        self.cap = cap
        self.throttle = throttle
        self.log = log
        self.lease_seconds = lease_seconds
        self.workers = 1
        self._beating: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RateShare:
        live = await self._beat()
        waited = 0.0
        while any(assumed < self.workers for assumed in live.values()):
            if waited >= JOIN_TIMEOUT_SECONDS:
                self.log.warning("workers %s did not take their new share; sending anyway", live)
                break
            await asyncio.sleep(JOIN_POLL_SECONDS)
            waited += JOIN_POLL_SECONDS
            live = await self._beat()
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
                self.log.warning("rate share heartbeat failed: %s", exc)

    async def _beat(self) -> dict[str, int]:
        """Heartbeat; when the number of live workers changed, take the new share and say so."""
        live = await self._heartbeat()
        workers = max(1, len(live))
        if workers != self.workers:
            headroom = SHARED_HEADROOM if workers > 1 else 0.0
            share = self.cap / workers * (1.0 - headroom)
            self.log.info(
                "%s workers send campaign %s: %.1f messages/s each",
                workers,
                self.campaign_id,
                share,
            )
            self.throttle.set_ceiling(share)
            self.workers = workers
            live = await self._heartbeat()  # tell the others this worker has slowed down
        return live

    async def _heartbeat(self) -> dict[str, int]:
        return await asyncio.to_thread(
            self.ledger.heartbeat,
            self.campaign_id,
            self.owner,
            assumed_workers=self.workers,
            timeout_seconds=WORKER_TIMEOUT_SECONDS,
            lease_seconds=self.lease_seconds,
        )
