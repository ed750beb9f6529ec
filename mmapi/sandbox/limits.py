"""The server side of Meta's throughput cap and 360dialog's endpoint limit.

Both are stated as messages per second, so the sandbox enforces them as a sliding one-second
window: a request is admitted while fewer than `rate * (1 + burst_fraction)` were admitted in
the second before it. A client pacing itself at the rate (with small bursts) is never refused;
one that overshoots gets 130429 for the excess.
"""

from __future__ import annotations

import time
from collections import deque

__all__ = ["SlidingWindowLimit"]

WINDOW_SECONDS = 1.0


class SlidingWindowLimit:
    """Admit at most `rate * (1 + burst_fraction)` requests in any one-second window.

    Attributes:
        rate: Requests per second.
        limit: Admissions allowed in any one-second window.

    Example:
        >>> limit = SlidingWindowLimit(rate=1.0, burst_fraction=0.0)
        >>> limit.try_take(0.0), limit.try_take(0.5), limit.try_take(1.01)
        (True, False, True)
    """

    def __init__(self, rate: float, burst_fraction: float) -> None:
        self.rate = rate
        self.limit = max(1, int(rate * (1.0 + burst_fraction)))
        self._admitted: deque[float] = deque()

    def try_take(self, now: float | None = None) -> bool:
        """Admit one request at `now` (`time.monotonic()` when not given) if within the limit."""
        now = time.monotonic() if now is None else now
        admitted = self._admitted
        while admitted and admitted[0] <= now - WINDOW_SECONDS:
            admitted.popleft()
        if len(admitted) < self.limit:
            admitted.append(now)
            return True
        return False
