"""The sandbox's chaos faults: 130429 storms, bodies POSTed again, retries past a downtime."""

from __future__ import annotations

import time
from collections import Counter

from mmapi.sandbox import MemorySink

from .helpers import SandboxFactory, spring_sale


class DownForAWhile(MemorySink):
    """A receiver that refuses every body for `down_seconds` after its first attempt."""

    def __init__(self, down_seconds: float) -> None:
        super().__init__()
        self.down_seconds = down_seconds
        self.down_since: float | None = None
        self.refused = 0

    async def deliver(self, body: bytes, headers: dict[str, str]) -> bool:
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
        if now - self.down_since < self.down_seconds:
            self.refused += 1
            return False
        return await super().deliver(body, headers)


async def test_storm_answers_130429_while_raised(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox() as sb:
        assert (await sb.client.post("/sandbox/config", json={"p_130429": 1.0})).status_code == 200
        storm = [await sb.send(spring_sale(f"+49151000{i:05d}")) for i in range(20)]
        assert {a.status_code for a in storm} == {400}
        assert {a.json()["detail"]["error"]["code"] for a in storm} == {130429}
        await sb.client.post("/sandbox/config", json={"p_130429": 0.5})
        half = [await sb.send(spring_sale(f"+49152000{i:05d}")) for i in range(200)]
        await sb.client.post("/sandbox/config", json={"p_130429": 0.0})
        after = await sb.send(spring_sale("+4915300000001"))
        stats = await sb.stats()
        truth = await sb.ground_truth()
    limited = sum(a.status_code == 400 for a in half)
    assert 60 < limited < 140  # about half of 200
    assert after.status_code == 200
    assert stats["faults"]["storm_130429"] == stats["rejected"]["130429"] == 20 + limited
    # A 130429 is never accepted: only the other answers are in the ground truth.
    assert len(truth["messages"]) == 200 - limited + 1


async def test_redelivered_bodies_are_identical_and_recorded_as_duplicates(
    open_sandbox: SandboxFactory,
) -> None:
    async with open_sandbox(p_redeliver=1.0, webhook_retry_max_seconds=0.01) as sb:
        for i in range(10):
            assert (await sb.send(spring_sale(f"+49154000{i:05d}"))).status_code == 200
        counters = await sb.flush()
        truth = await sb.ground_truth()
        received = [hook.body for hook in sb.sink.received]
    copies = Counter(received)
    assert counters["redelivered_bodies"] == len(copies) > 0
    assert set(copies.values()) == {2}  # each body twice, byte for byte (signature included)
    duplicates = [e for e in truth["events"] if e["duplicate"]]
    assert len(duplicates) * 2 == len(truth["events"]) == counters["events_delivered"]


async def test_webhooks_retried_past_a_receiver_downtime(open_sandbox: SandboxFactory) -> None:
    sink = DownForAWhile(down_seconds=0.5)
    async with open_sandbox(
        sink=sink,
        webhook_max_attempts=1000,
        webhook_retry_base_seconds=0.01,
        webhook_retry_max_seconds=0.05,
    ) as sb:
        for i in range(5):
            await sb.send(spring_sale(f"+49155000{i:05d}"))
        counters = await sb.flush()
        truth = await sb.ground_truth()
    assert sink.refused > 5
    assert counters["failed_bodies"] == 0
    assert counters["retries"] == sink.refused
    assert len(sink.received) == counters["bodies_delivered"]
    assert len(truth["events"]) == counters["events_delivered"] > 0
