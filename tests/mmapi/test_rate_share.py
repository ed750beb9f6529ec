"""RateShare: workers of one campaign split its cap through the ledger's heartbeats."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mmapi.ledger import Ledger
from mmapi.rate_share import (
    HEARTBEAT_SECONDS,
    JOIN_TIMEOUT_SECONDS,
    SHARED_HEADROOM,
    RateShare,
)
from mmapi.throttle import Throttle


async def test_workers_split_the_cap_and_a_newcomer_waits_for_the_others_to_slow_down(
    tmp_path: Path,
):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    first, second = Throttle(rate=900), Throttle(rate=900)
    async with RateShare(ledger, "c1", "host-1-a", 900, first):
        assert first.ceiling == 900
        loop = asyncio.get_running_loop()
        joined = loop.time()
        async with RateShare(ledger, "c1", "host-2-b", 900, second):
            # The newcomer may send only once the first worker has halved its rate (less the
            # headroom several workers leave for their requests bunching at the API).
            assert first.ceiling == second.ceiling == 450 * (1 - SHARED_HEADROOM) == 427.5
            assert loop.time() - joined <= JOIN_TIMEOUT_SECONDS
        await asyncio.sleep(HEARTBEAT_SECONDS * 1.5)
        assert first.ceiling == 900  # the second left: the whole cap is back, no headroom
    both_left = ledger.heartbeat("c1", "host-3-c", assumed_workers=1, timeout_seconds=60)
    assert both_left == {"host-3-c": 1}
    ledger.dispose()
