"""Request counters of the send endpoints, including the busiest sliding one-second window.

A client's pacing is judged by `max_1s_count`: the largest number of send requests that
arrived in any one-second window. Arrivals are counted in 10 ms buckets on a ring of 100,
so memory stays constant however long the sandbox runs.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from typing import Any

__all__ = ["SendStats", "SlidingWindowCounter"]

_BUCKETS_PER_SECOND = 100


class SlidingWindowCounter:
    """Counts events in a sliding one-second window of 10 ms buckets and keeps the maximum.

    Attributes:
        maximum: The largest count seen in any window so far.

    Example:
        >>> counter = SlidingWindowCounter()
        >>> for t in (0.0, 0.5, 0.99, 1.2):
        ...     counter.add(t)
        >>> counter.maximum
        3
    """

    def __init__(self) -> None:
        self._ring = [0] * _BUCKETS_PER_SECOND
        self._sum = 0
        self._last: int | None = None
        self.maximum = 0

    def add(self, now: float) -> None:
        """Count one event at monotonic time `now` (seconds)."""
        bucket = int(now * _BUCKETS_PER_SECOND)
        last = self._last
        if last is None:
            self._last = bucket
        elif bucket > last:
            ring = self._ring
            if bucket - last >= _BUCKETS_PER_SECOND:
                ring[:] = [0] * _BUCKETS_PER_SECOND
                self._sum = 0
            else:
                for step in range(last + 1, bucket + 1):
                    slot = step % _BUCKETS_PER_SECOND
                    self._sum -= ring[slot]
                    ring[slot] = 0
            self._last = bucket
        # A bucket older than the newest (a tiny clock step back) is counted in the newest.
        self._ring[self._last % _BUCKETS_PER_SECOND] += 1
        self._sum += 1
        if self._sum > self.maximum:
            self.maximum = self._sum


class SendStats:
    """Totals of the send endpoints for `GET /sandbox/stats`.

    Attributes:
        requests: Send requests that arrived.
        accepted: Messages accepted (including held ones and those answered by a fault).
        held: Accepted with `held_for_quality_assessment`.
        unauthorized: Answered 401.
        d360_rate_limited: Answered with 360dialog's endpoint rate limit.
        rejected: Error answers by Meta error code.
        faults: Faults injected by kind (`http_500`, `hang`, `accept_then_drop`, `webhook_131000`).
    """

    def __init__(self, seconds_kept: int) -> None:
        self._seconds_kept = seconds_kept
        self.reset()

    def reset(self) -> None:
        """Start every counter again from zero."""
        self.requests = 0
        self.accepted = 0
        self.held = 0
        self.unauthorized = 0
        self.d360_rate_limited = 0
        self.rejected: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()
        self.arrivals = SlidingWindowCounter()
        self.acceptances = SlidingWindowCounter()
        self.per_second: OrderedDict[int, int] = OrderedDict()

    def arrival(self) -> float:
        """Count an arriving send request; returns its `time.monotonic()`."""
        now = time.monotonic()
        self.requests += 1
        self.arrivals.add(now)
        second = int(time.time())
        per_second = self.per_second
        if second in per_second:
            per_second[second] += 1
        else:
            per_second[second] = 1
            if len(per_second) > self._seconds_kept:
                per_second.popitem(last=False)
        return now

    def accept(self, now: float, *, held: bool) -> None:
        """Count an accepted message."""
        self.accepted += 1
        self.held += held
        self.acceptances.add(now)

    def reject(self, code: int) -> None:
        """Count an error answer carrying Meta error `code`."""
        self.rejected[code] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON-ready data."""
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "held": self.held,
            "unauthorized": self.unauthorized,
            "d360_rate_limited": self.d360_rate_limited,
            "rejected": {str(code): n for code, n in sorted(self.rejected.items())},
            "rejected_total": sum(self.rejected.values()),
            "faults": dict(self.faults),
            "max_1s_count": self.arrivals.maximum,
            "max_1s_accepted": self.acceptances.maximum,
            "per_second": {str(second): n for second, n in self.per_second.items()},
        }
