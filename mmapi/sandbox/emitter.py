"""The webhook emitter: schedules each message's events and delivers them when they fall due.

Pending events wait in one heap of packed ints (emit time, timestamp, message index,
duplicate flag, kind): about 40 bytes an event, so millions can wait. An asyncio task
started in the app's lifespan wakes every `emit_interval_seconds`, pops what the simulated
clock has reached, adds disorder (duplicates, late events, shuffled batches), and hands the
bodies to the sink with retries and backoff. Only delivered events enter the ground truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
from typing import Any

from ..settings import WEBHOOK_SIGNATURE_HEADER
from ..webhooks import sign_body
from .bodies import BodyBuilder
from .catalog import TemplateCatalog
from .clock import SimClock
from .config import SandboxConfig
from .groundtruth import DUP_FLAG, INDEX_SHIFT, GroundTruth
from .sinks import WebhookSink

__all__ = ["Emitter"]

logger = logging.getLogger(__name__)

_CODE_BITS = 40
_TS_BITS = 32
_EMIT_SHIFT = _CODE_BITS + _TS_BITS
_CODE_MASK = (1 << _CODE_BITS) - 1
_TS_MASK = (1 << _TS_BITS) - 1
_EMIT_BATCH_MAX = 5000


class Emitter:
    """Schedules, batches and delivers webhook events on the simulated clock.

    Attributes:
        config: The sandbox configuration.
        clock: The simulated clock.
        truth: The ground truth (events are recorded once delivered).
        sink: Where bodies go.
    """

    def __init__(
        self,
        config: SandboxConfig,
        clock: SimClock,
        truth: GroundTruth,
        catalog: TemplateCatalog,
        sink: WebhookSink,
    ) -> None:
        self.config = config
        self.clock = clock
        self.truth = truth
        self.sink = sink
        # A generator of its own, so webhook disorder does not shift the fates' random draws.
        self.rng = random.Random(config.seed + 1)
        self.builder = BodyBuilder(config, truth, catalog, self.rng)
        self._base = clock.start
        self._base_second = int(clock.start)
        self._heap: list[int] = []
        self._max_emit_ms = 0
        self._lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(config.webhook_concurrency)
        self._idle = asyncio.Event()
        self._idle.set()
        self._inflight = 0
        self._task: asyncio.Task[None] | None = None
        # Strong references: the event loop keeps only weak ones to running tasks.
        self._deliveries: set[asyncio.Task[None]] = set()
        self.scheduled = 0
        self.emitted = 0
        self.duplicates = 0
        self.bodies_delivered = 0
        self.events_delivered = 0
        self.retries = 0
        self.failures = 0
        self.redelivered = 0

    def set_config(self, config: SandboxConfig) -> None:
        """Use a changed configuration from now on."""
        self.config = config
        self.builder.config = config

    # Scheduling.

    def _push(self, emit_at: float, ts: int, code: int) -> None:
        emit_ms = max(0, int((emit_at - self._base) * 1000.0))
        if emit_ms > self._max_emit_ms:
            self._max_emit_ms = emit_ms
        packed = emit_ms << _EMIT_SHIFT | (ts - self._base_second) << _CODE_BITS | code
        heapq.heappush(self._heap, packed)

    def schedule(self, index: int, events: list[tuple[float, int]]) -> None:
        """Schedule message `index`'s events (`(simulated time, kind)` pairs)."""
        config = self.config
        rng = self.rng
        for at, kind in events:
            emit_at = at
            if config.p_late and rng.random() < config.p_late:
                # Held back: it may now arrive after events stamped later than itself.
                emit_at += rng.uniform(0.0, config.late_max_seconds)
            self._push(emit_at, int(at), index << INDEX_SHIFT | kind)
        self.scheduled += len(events)

    @property
    def pending(self) -> int:
        """Events waiting to be emitted."""
        return len(self._heap)

    # Emission.

    async def _emit_due(self) -> int:
        """Emit up to one batch of due events; the caller holds the lock."""
        heap = self._heap
        if not heap:
            return 0
        bound = (int((self.clock.now() - self._base) * 1000.0) + 1) << _EMIT_SHIFT
        config = self.config
        rng = self.rng
        events: list[tuple[int, int]] = []
        while heap and heap[0] < bound and len(events) < _EMIT_BATCH_MAX:
            packed = heapq.heappop(heap)
            code = packed & _CODE_MASK
            ts = self._base_second + (packed >> _CODE_BITS & _TS_MASK)
            events.append((code, ts))
            if config.p_duplicate and not code & DUP_FLAG and rng.random() < config.p_duplicate:
                emit_at = self._base + (packed >> _EMIT_SHIFT) / 1000.0
                delay = rng.uniform(1.0, config.duplicate_max_delay_seconds)
                self._push(emit_at + delay, ts, code | DUP_FLAG)
                self.duplicates += 1
        if not events:
            return 0
        self.emitted += len(events)
        concurrent = self.sink.concurrent
        for body, chunk in self.builder.build(events):
            await self._slots.acquire()
            self._inflight += 1
            self._idle.clear()
            if concurrent:
                task = asyncio.get_running_loop().create_task(self._deliver(body, chunk))
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)
            else:
                await self._deliver(body, chunk)
            # Let requests in between bodies: a batch built and taken in one go (a sink that
            # never waits) held the event loop for tens of ms, and delayed requests arrive in a
            # bunch, which the sandbox would count against a client's pacing.
            await asyncio.sleep(0)
        return len(events)

    async def _deliver(self, body: bytes, chunk: list[tuple[int, int]]) -> None:
        config = self.config
        headers = {"Content-Type": "application/json"}
        if config.webhook_secret is not None:
            secret = config.webhook_secret.get_secret_value()
            headers[WEBHOOK_SIGNATURE_HEADER] = sign_body(body, secret)
        try:
            taken = await self._deliver_with_retries(body, headers, chunk)
            if taken and config.p_redeliver and self.rng.random() < config.p_redeliver:
                # At-least-once delivery: the same bytes again a little later, as when Meta
                # never saw the acknowledgement. Its events are recorded as duplicates.
                self.redelivered += 1
                await asyncio.sleep(self.rng.uniform(0.0, config.webhook_retry_max_seconds))
                again = [(code | DUP_FLAG, ts) for code, ts in chunk]
                await self._deliver_with_retries(body, headers, again)
        finally:
            self._slots.release()
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    async def _deliver_with_retries(
        self, body: bytes, headers: dict[str, str], chunk: list[tuple[int, int]]
    ) -> bool:
        """POST one body until the sink takes it or the attempts run out; True if taken."""
        config = self.config
        for attempt in range(config.webhook_max_attempts):
            try:
                taken = await self.sink.deliver(body, headers)
            except Exception:  # a sink bug must not kill the emitter; count and retry
                logger.exception("webhook sink failed")
                taken = False
            if taken:
                for code, ts in chunk:
                    self.truth.add_event(code, ts)
                self.bodies_delivered += 1
                self.events_delivered += len(chunk)
                return True
            if attempt + 1 == config.webhook_max_attempts:
                break
            self.retries += 1
            backoff = min(
                config.webhook_retry_max_seconds, config.webhook_retry_base_seconds * 2**attempt
            )
            await asyncio.sleep(backoff * self.rng.uniform(0.5, 1.0))
        self.failures += 1
        return False

    # Lifecycle.

    async def _run(self) -> None:
        while True:
            async with self._lock:
                emitted = await self._emit_due()
            self.truth.write_pending()
            # A full batch means more is due: go on at once, letting requests in between.
            await asyncio.sleep(
                0 if emitted >= _EMIT_BATCH_MAX else self.config.emit_interval_seconds
            )

    def start(self) -> None:
        """Start the emitter loop in the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the loop (pending events stay unsent) and release the sink."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._deliveries):
            task.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)
        await self.sink.aclose()
        self.truth.close()

    async def flush(self) -> dict[str, Any]:
        """Play the clock forward until every scheduled event is emitted and delivered.

        Returns:
            The emitter counters (see `counters`), with `pending` 0 unless sends go on.
        """
        while True:
            async with self._lock:
                if self._heap:
                    self.clock.advance_to(self._base + (self._max_emit_ms + 1) / 1000.0)
                    while await self._emit_due():
                        pass
                    continue
            if self._inflight:
                await self._idle.wait()
                continue
            break
        self.truth.write_pending()
        return self.counters()

    def counters(self) -> dict[str, Any]:
        """Counters for `/sandbox/stats` and `/sandbox/flush`."""
        return {
            "scheduled": self.scheduled,
            "emitted": self.emitted,
            "duplicates": self.duplicates,
            "pending": len(self._heap),
            "in_flight_bodies": self._inflight,
            "bodies_delivered": self.bodies_delivered,
            "events_delivered": self.events_delivered,
            "retries": self.retries,
            "redelivered_bodies": self.redelivered,
            "failed_bodies": self.failures,
            "sim_time": self.clock.now(),
        }
