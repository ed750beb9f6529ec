"""Throughput control: a token bucket with adaptive rate, bounded concurrency, backoff, budget.

All of it lives in the client process, per message, without any call to an orchestrator:
Prefect's rate limits need a server round trip per call, far too slow at 1,000 messages/s.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from .settings import (
    DEFAULT_BURST_FRACTION,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_MESSAGES_PER_SECOND,
    DEFAULT_RETRY_BUDGET_RATIO,
)

__all__ = ["Departure", "RetryBudget", "Throttle", "backoff_delay"]

# After a rate-limit answer the rate is multiplied by this, at most once per cooldown...
DECREASE_FACTOR = 0.7
DECREASE_COOLDOWN_SECONDS = 1.0
# ...and grows back by this share of the ceiling per second without one.
INCREASE_SHARE_PER_SECOND = 0.05
MIN_RATE = 1.0


class Departure:
    """A request's place in the throttle's window of departures.

    Attributes:
        at: When it left, on the throttle's clock: when it was let go, then, once the
            transport reports it, when its bytes were written.
    """

    __slots__ = ("_clock", "at")

    def __init__(self, at: float, clock: Callable[[], float]):
        self.at = at
        self._clock = clock

    def written(self) -> None:
        """The request's bytes have been written: count it from now.

        A process can be descheduled between being let go and writing; counted from the
        write, a late request delays those after it instead of arriving bunched with them.
        """
        self.at = max(self.at, self._clock())


class Throttle:
    """Paces requests: at most `rate` per second, at most `max_in_flight` at once.

    The pacing is GCRA (a token bucket expressed as the next slot's time): a request may go at
    `max(now, next_slot - burst_window)`, so any window of W seconds holds at most
    `W * rate + burst` requests. A rate-limit answer lowers the rate multiplicatively; it grows
    back additively up to the configured ceiling (AIMD), so a storm of 130429 slows the sender
    down instead of multiplying retries.

    Pacing hands out turns; what the API counts is when requests arrive, which can be later
    (a ledger claim committed in batches, an event loop that lagged) and then in a bunch. So a
    request also passes `depart()` as late as the transport allows before it is written: at
    most `ceiling` requests leave in any window of 1 s + `arrival_jitter`, so requests bunched
    by up to `arrival_jitter` on their way still arrive at most `ceiling` in any second. The
    pacing runs at `ceiling / (1 + arrival_jitter)`, the rate that window allows.

    Args:
        rate: The configured messages per second (`ceiling`).
        max_in_flight: The most requests awaiting an answer at once.
        burst_fraction: The token bucket's burst as a share of the rate.
        arrival_jitter: Seconds of bunching on the way to the API to leave room for (0: pace
            at the ceiling exactly, as seen at departure).
        clock: Monotonic seconds (tests pass a fake one).

    Attributes:
        ceiling: The configured messages per second.
        max_in_flight: The most requests awaiting an answer at once.

    Example:
        >>> throttle = Throttle(rate=80, max_in_flight=50)
        >>> async def send_one():
        ...     async with throttle.slot():
        ...         await throttle.depart()
        ...         ...  # one HTTP request
    """

    def __init__(
        self,
        *,
        rate: float = DEFAULT_MESSAGES_PER_SECOND,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        burst_fraction: float = DEFAULT_BURST_FRACTION,
        arrival_jitter: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not 0 < rate < math.inf:  # also rejects NaN
            raise ValueError(f"rate must be positive and finite (got {rate})")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1 (got {max_in_flight})")
        if not 0 <= arrival_jitter <= 1:
            raise ValueError(f"arrival_jitter must be 0-1 s (got {arrival_jitter})")
        self._window = 1.0 + arrival_jitter
        self.ceiling = float(rate)
        self.max_in_flight = max_in_flight
        self._burst_fraction = burst_fraction
        self._burst = max(1.0, rate * burst_fraction)
        self._clock = clock
        self._rate = self.ceiling / self._window
        self._rate_updated = clock()
        self._last_decrease = float("-inf")
        self._next_slot = clock()
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._pacer: asyncio.Task[None] | None = None
        self._departures: deque[Departure] = deque()
        self._departure_gate = asyncio.Lock()
        self.rate_limited_count = 0

    @property
    def rate(self) -> float:
        """The current pacing rate (lowered after rate-limit answers), after additive recovery."""
        now = self._clock()
        paced_ceiling = self.ceiling / self._window
        if self._rate < paced_ceiling:
            grown = self._rate + paced_ceiling * INCREASE_SHARE_PER_SECOND * (
                now - self._rate_updated
            )
            self._rate = min(paced_ceiling, grown)
        self._rate_updated = now
        return self._rate

    def set_ceiling(self, rate: float) -> None:
        """Change the configured rate (a worker's share of a campaign's cap changed).

        Lowering takes effect at the next slot; raising lets the rate grow back to it.
        """
        if not 0 < rate < math.inf:
            raise ValueError(f"rate must be positive and finite (got {rate})")
        self._rate = min(self.rate, rate / self._window)
        self.ceiling = float(rate)
        self._burst = max(1.0, rate * self._burst_fraction)

    def rate_limited(self) -> None:
        """Record a rate-limit answer: lower the rate, at most once per cooldown."""
        self.rate_limited_count += 1
        now = self._clock()
        if now - self._last_decrease >= DECREASE_COOLDOWN_SECONDS:
            self._rate = max(MIN_RATE, self.rate * DECREASE_FACTOR)
            self._rate_updated = now
            self._last_decrease = now

    def reserve(self) -> float:
        """Reserve the next send slot; returns seconds to wait before using it."""
        now = self._clock()
        interval = 1.0 / self.rate
        start = max(now, self._next_slot - (self._burst - 1.0) * interval)
        self._next_slot = max(self._next_slot, start) + interval
        return start - now

    async def depart(self) -> Departure:
        """Wait until a request may leave: at most `ceiling` leave in any 1 s + `arrival_jitter`.

        Call it right before writing the request (inside `slot()`; `MMClient` has its transport
        call it once the connection is ready), and `written()` on what it returns once the
        bytes are out, if the transport can tell. A ceiling lowered by `set_ceiling` applies at
        once to the window just past, so a worker that gives up part of its share never sends
        into the share it gave up.
        """
        # One departure waits at a time (FIFO through the lock), so a full window wakes one
        # request when a place frees instead of every request that is waiting.
        async with self._departure_gate:
            limit = max(1, math.floor(self.ceiling + 1e-9))
            departures = self._departures
            window = self._window
            while True:
                now = self._clock()
                # A departure moved later by `written()` may sit behind earlier ones: it then
                # leaves the window late, which only errs on the safe side.
                while departures and departures[0].at <= now - window:
                    departures.popleft()
                if len(departures) < limit:
                    departure = Departure(now, self._clock)
                    departures.append(departure)
                    return departure
                await asyncio.sleep(departures[0].at + window - now)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a rate slot and a free in-flight place; hold the place while inside."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._pacer is None or self._pacer.done():
            self._pacer = asyncio.create_task(self._pace())
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._in_flight.release()  # the pacer had handed us a place
            raise
        try:
            yield
        finally:
            self._in_flight.release()

    async def _pace(self) -> None:
        # One pacer hands out places in order. It takes the in-flight place first, so waiting
        # for the rate never holds a place (the limit counts requests on the wire only), and
        # reserves each rate slot at release time, so if the event loop lags, late slots are
        # not made up in a burst (at most `burst` at once).
        while self._waiters:
            await self._in_flight.acquire()
            delay = self.reserve()
            if delay > 0:
                await asyncio.sleep(delay)
            while self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    break
            else:
                self._in_flight.release()


def backoff_delay(attempt: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)].

    Args:
        attempt: 0 for the first retry, 1 for the second, ...
        base: Seconds of the first step.
        cap: The longest wait.
    """
    return random.uniform(0.0, min(cap, base * 2.0**attempt))


class RetryBudget:
    """Caps retries at a share of first attempts, so errors cannot multiply the traffic.

    Attributes:
        ratio: Retries allowed per first attempt (0.2 = one retry per five messages).
        minimum: Retries always allowed, so a small batch can still retry.

    Example:
        >>> budget = RetryBudget(ratio=0.1, minimum=1)
        >>> budget.record_attempt(); budget.try_spend(), budget.try_spend()
        (True, False)
    """

    def __init__(self, *, ratio: float = DEFAULT_RETRY_BUDGET_RATIO, minimum: int = 10):
        self.ratio = ratio
        self.minimum = minimum
        self.attempts = 0
        self.retries = 0

    def record_attempt(self) -> None:
        """Count a first attempt (it earns `ratio` retries)."""
        self.attempts += 1

    def try_spend(self) -> bool:
        """Take one retry from the budget; False when it is spent."""
        # Whole retries only (1.1 allows one); the epsilon absorbs float error like 0.29 * 100.
        if self.retries + 1 <= self.minimum + self.ratio * self.attempts + 1e-9:
            self.retries += 1
            return True
        return False
