"""Throughput control: pacing, adaptive rate, backoff and the retry budget (DOMAIN.md section 3)."""

from __future__ import annotations

import asyncio
import bisect
import heapq
import math
import random

import pytest

from mmapi.throttle import (
    DECREASE_COOLDOWN_SECONDS,
    DECREASE_FACTOR,
    INCREASE_SHARE_PER_SECOND,
    MIN_RATE,
    RetryBudget,
    Throttle,
    backoff_delay,
)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def seeded_random(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `backoff_delay`'s jitter repeatable without touching the global generator."""
    monkeypatch.setattr("mmapi.throttle.random", random.Random(12345))


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most events in any half-open window [t, t + window) that starts at an event."""
    times = sorted(times)
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))


def simulate(
    throttle: Throttle,
    clock: FakeClock,
    *,
    workers: int,
    seconds: float,
    latency: float = 0.0,
) -> list[float]:
    """Send times when `workers` callers reserve, wait, send, and go again for `seconds`."""
    start = clock.now
    ready = [(start, n) for n in range(workers)]
    sends: list[float] = []
    while ready:
        at, worker = heapq.heappop(ready)
        if at >= start + seconds:
            continue
        clock.now = at
        send_at = at + throttle.reserve()
        if send_at < start + seconds:
            sends.append(send_at)
        heapq.heappush(ready, (send_at + latency, worker))
    return sends


# --- pacing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "burst"), [(80, 4), (1000, 50), (10, 1)])
def test_throttle_reserve_burst_then_spaced_slots(clock, rate, burst):
    throttle = Throttle(rate=rate, clock=clock)

    delays = [throttle.reserve() for _ in range(burst + 5)]

    assert delays[:burst] == pytest.approx([0.0] * burst, abs=1e-9)
    assert delays[burst:] == pytest.approx([(k + 1) / rate for k in range(5)])


def test_throttle_reserve_burst_refills_after_idle(clock):
    throttle = Throttle(rate=80, clock=clock)
    for _ in range(20):
        throttle.reserve()

    clock.advance(10.0)

    assert [throttle.reserve() for _ in range(5)] == pytest.approx([0, 0, 0, 0, 1 / 80], abs=1e-9)


@pytest.mark.parametrize(("workers", "latency"), [(1, 0.0), (20, 0.0), (500, 0.0), (200, 0.05)])
def test_throttle_any_one_second_window_within_rate_plus_ten_percent(clock, workers, latency):
    throttle = Throttle(rate=80, max_in_flight=workers, clock=clock)

    sends = simulate(throttle, clock, workers=workers, seconds=10.0, latency=latency)

    assert max_in_window(sends) <= 88
    if workers > 1:
        # Continuous demand really uses the rate (so the bound above is not met by idling).
        assert len(sends) >= 0.95 * 80 * 10


def test_throttle_bursty_demand_window_within_rate_plus_ten_percent(clock):
    throttle = Throttle(rate=80, clock=clock)
    rng = random.Random(7)
    sends: list[float] = []
    for _ in range(200):  # bursts of up to 150 callers, separated by random pauses
        clock.advance(rng.uniform(0.0, 2.0))
        sends.extend(clock.now + throttle.reserve() for _ in range(rng.randint(1, 150)))

    assert max_in_window(sends) <= 88
    assert sends == sorted(sends)


def test_throttle_lowered_rate_spaces_slots_wider(clock):
    throttle = Throttle(rate=100, clock=clock)
    throttle.rate_limited()  # 100 -> 70 per second
    for _ in range(50):
        throttle.reserve()  # use up the burst, queue slots well ahead

    first = throttle.reserve()
    second = throttle.reserve()

    assert second - first == pytest.approx(1 / (100 * DECREASE_FACTOR))


# --- adaptive rate --------------------------------------------------------------------------


def test_throttle_rate_limited_lowers_rate_by_factor(clock):
    throttle = Throttle(rate=80, clock=clock)

    throttle.rate_limited()

    assert throttle.rate == pytest.approx(80 * DECREASE_FACTOR)
    assert throttle.rate_limited_count == 1


def test_throttle_rate_limited_at_most_once_per_cooldown(clock):
    throttle = Throttle(rate=80, clock=clock)
    recovery = 80 * INCREASE_SHARE_PER_SECOND  # per second

    throttle.rate_limited()  # 80 -> 56
    for _ in range(20):  # a storm of 130429 within the same instant
        throttle.rate_limited()
    assert throttle.rate == pytest.approx(56.0)

    clock.advance(DECREASE_COOLDOWN_SECONDS / 2)
    throttle.rate_limited()  # still within the cooldown: only recovery applies
    assert throttle.rate == pytest.approx(56.0 + recovery * DECREASE_COOLDOWN_SECONDS / 2)

    clock.advance(DECREASE_COOLDOWN_SECONDS / 2)
    before = 56.0 + recovery * DECREASE_COOLDOWN_SECONDS
    throttle.rate_limited()  # cooldown over: lowered again
    assert throttle.rate == pytest.approx(before * DECREASE_FACTOR)
    assert throttle.rate_limited_count == 23


def test_throttle_rate_recovers_additively_to_ceiling(clock):
    throttle = Throttle(rate=80, clock=clock)
    throttle.rate_limited()  # 56
    recovery = 80 * INCREASE_SHARE_PER_SECOND

    clock.advance(1.0)
    assert throttle.rate == pytest.approx(56 + recovery)
    clock.advance(2.0)
    assert throttle.rate == pytest.approx(56 + 3 * recovery)

    clock.advance(1000.0)
    assert throttle.rate == 80.0
    assert throttle.ceiling == 80.0


def test_throttle_ceiling_lowered_at_once_and_raised_gradually(clock):
    throttle = Throttle(rate=900, clock=clock)
    throttle.set_ceiling(300)  # two more workers joined the campaign
    assert throttle.rate == 300.0
    assert max_in_window(simulate(throttle, clock, workers=50, seconds=3)) <= 300 * 1.05 + 1

    throttle.set_ceiling(450)  # one of them left
    assert throttle.rate == 300.0
    clock.advance(1000.0)
    assert throttle.rate == 450.0


def test_throttle_rate_never_below_minimum(clock):
    throttle = Throttle(rate=2, clock=clock)

    for _ in range(50):
        throttle.rate_limited()
        clock.advance(DECREASE_COOLDOWN_SECONDS)

    assert throttle.rate >= MIN_RATE
    assert throttle.rate < 2 * MIN_RATE


def test_throttle_storm_keeps_windows_under_ceiling(clock):
    throttle = Throttle(rate=80, clock=clock)
    sends: list[float] = []
    for step in range(2000):  # 10 s in 5 ms steps, a rate-limit answer every 50 ms
        clock.now = 1000.0 + step * 0.005
        if step % 10 == 0:
            throttle.rate_limited()
        while (delay := throttle.reserve()) <= 0.0:
            sends.append(clock.now)
        sends.append(clock.now + delay)

    assert max_in_window(sends) <= 88
    assert throttle.rate < 80 * DECREASE_FACTOR


# --- arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0, -1, -0.5, math.nan, math.inf])
def test_throttle_invalid_rate_rejected(rate):
    with pytest.raises(ValueError, match="rate"):
        Throttle(rate=rate)


@pytest.mark.parametrize("max_in_flight", [0, -3])
def test_throttle_invalid_max_in_flight_rejected(max_in_flight):
    with pytest.raises(ValueError, match="max_in_flight"):
        Throttle(max_in_flight=max_in_flight)


# --- backoff and budget ---------------------------------------------------------------------


@pytest.mark.parametrize(("base", "cap"), [(0.5, 30.0), (1.0, 5.0), (0.1, 1000.0), (2.0, 2.0)])
@pytest.mark.usefixtures("seeded_random")
def test_backoff_delay_within_full_jitter_bounds(base, cap):
    for attempt in range(16):
        bound = min(cap, base * 2**attempt)
        samples = [backoff_delay(attempt, base=base, cap=cap) for _ in range(300)]

        assert all(0.0 <= d <= bound for d in samples)
        # Full jitter spreads over the whole range, not a fixed point.
        assert max(samples) > 0.8 * bound
        assert min(samples) < 0.2 * bound


@pytest.mark.usefixtures("seeded_random")
def test_backoff_delay_defaults_capped_at_30_seconds():
    samples = [backoff_delay(40) for _ in range(500)]

    assert 25.0 < max(samples) <= 30.0


def test_retry_budget_allows_minimum_plus_ratio_of_attempts():
    budget = RetryBudget(ratio=0.2, minimum=3)
    for _ in range(50):
        budget.record_attempt()

    granted = [budget.try_spend() for _ in range(20)]

    assert granted == [True] * 13 + [False] * 7  # 3 + 0.2 * 50
    assert budget.retries == 13


@pytest.mark.parametrize(
    ("ratio", "minimum", "attempts", "allowed"),
    [
        (0.1, 1, 1, 1),  # 1.1 -> one retry, as the class docstring's example says
        (0.2, 0, 4, 0),  # 0.8 -> none
        (0.2, 0, 9, 1),  # 1.8 -> one
        (0.29, 0, 100, 29),  # 28.999999999999996 in floats -> still 29
        (0.1, 0, 30, 3),  # 3.0000000000000004 -> 3
    ],
)
def test_retry_budget_fractional_allowance_rounds_down(ratio, minimum, attempts, allowed):
    budget = RetryBudget(ratio=ratio, minimum=minimum)
    for _ in range(attempts):
        budget.record_attempt()

    granted = [budget.try_spend() for _ in range(allowed + 3)]

    assert granted == [True] * allowed + [False] * 3


def test_retry_budget_refills_with_new_attempts():
    budget = RetryBudget(ratio=0.5, minimum=0)
    assert budget.try_spend() is False

    budget.record_attempt()
    budget.record_attempt()

    assert [budget.try_spend() for _ in range(2)] == [True, False]


def test_retry_budget_minimum_without_attempts():
    budget = RetryBudget(ratio=0.2, minimum=2)

    assert [budget.try_spend() for _ in range(3)] == [True, True, False]


# --- real asyncio ---------------------------------------------------------------------------


async def test_throttle_slot_never_more_than_max_in_flight_inside():
    throttle = Throttle(rate=200, max_in_flight=5)
    inside = 0
    most = 0
    done = 0

    async def body() -> None:
        nonlocal inside, most, done
        async with throttle.slot():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.005)
            inside -= 1
            done += 1

    await asyncio.wait_for(asyncio.gather(*(body() for _ in range(60))), timeout=5.0)

    assert done == 60
    assert inside == 0
    assert most == 5


async def test_throttle_depart_keeps_bunched_requests_within_ceiling_per_second():
    # Claims committed every 400 ms release the requests granted meanwhile all at once, as a
    # ledger commit under load does; what leaves must still be at most `ceiling` a second.
    throttle = Throttle(rate=200, max_in_flight=200)
    loop = asyncio.get_running_loop()
    commit = asyncio.Event()
    released: list[float] = []
    departed: list[float] = []

    async def committer() -> None:
        while True:
            await asyncio.sleep(0.4)
            commit.set()
            commit.clear()

    async def send() -> None:
        async with throttle.slot():
            await commit.wait()
            released.append(loop.time())
            await throttle.depart()
            departed.append(loop.time())

    commits = asyncio.create_task(committer())
    await asyncio.wait_for(asyncio.gather(*(send() for _ in range(500))), timeout=10.0)
    commits.cancel()

    assert max_in_window(released) > 200  # the bunching this guards against happened
    # Read after depart() returns, a time can lag the throttle's own by a scheduling delay:
    # a window 10 ms short of a second absorbs that lag.
    assert max_in_window(departed, window=0.99) <= 200
    assert len(departed) / (max(departed) - min(departed)) >= 0.8 * 200  # not by idling


async def test_throttle_depart_lowered_ceiling_applies_to_the_second_just_past():
    throttle = Throttle(rate=100, max_in_flight=100)
    loop = asyncio.get_running_loop()
    for _ in range(60):
        await throttle.depart()
    started = loop.time()

    throttle.set_ceiling(50)
    await throttle.depart()

    # 60 left in the last second, over the new ceiling: the 61st waits for them to age out.
    assert loop.time() - started >= 0.9


async def test_throttle_depart_leaves_room_for_arrival_jitter():
    # 100 may leave in any 1.5 s: the 101st waits 1.5 s, so requests bunched by up to 0.5 s
    # on their way still arrive at most 100 in any second.
    throttle = Throttle(rate=100, max_in_flight=100, arrival_jitter=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(100):
        await throttle.depart()
    assert loop.time() - started < 0.5
    await throttle.depart()
    assert loop.time() - started >= 1.5
    assert throttle.rate == pytest.approx(100 / 1.5)  # pacing at what the window allows


async def test_throttle_counts_a_departure_from_when_it_was_written():
    # Let go at once, but written 0.4 s later (its process was descheduled in between): the
    # next request waits for a second from the write, not from the letting go.
    throttle = Throttle(rate=1, max_in_flight=1)
    loop = asyncio.get_running_loop()
    first = await throttle.depart()
    await asyncio.sleep(0.4)
    first.written()
    written_at = loop.time()
    await throttle.depart()
    assert loop.time() - written_at >= 0.95


def test_throttle_rejects_an_arrival_jitter_outside_0_to_1_s():
    for jitter in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="arrival_jitter"):
            Throttle(rate=10, arrival_jitter=jitter)
