"""The simulated clock: webhook timestamps run `time_compression` times faster than real time.

Simulated time starts at the real Unix time when the clock is made, so timestamps look
current, and only ever moves forward: by the passing of real time, or by `advance_to`
when `/sandbox/flush` plays the remaining events out at once.
"""

from __future__ import annotations

import time

__all__ = ["SimClock"]


class SimClock:
    """A monotonic simulated clock in Unix seconds.

    Attributes:
        compression: Simulated seconds per real second.
        start: Simulated (and real) Unix time when the clock was made.

    Example:
        >>> clock = SimClock(compression=3600.0)
        >>> clock.advance_to(clock.now() + 86400.0)
        >>> clock.now() - clock.start >= 86400.0
        True
    """

    def __init__(self, compression: float, *, start: float | None = None) -> None:
        self.compression = compression
        self.start = time.time() if start is None else start
        self._real0 = time.monotonic()
        self._offset = 0.0

    def now(self) -> float:
        """The current simulated Unix time."""
        return self.start + (time.monotonic() - self._real0) * self.compression + self._offset

    def advance_to(self, sim_time: float) -> None:
        """Jump forward to `sim_time`; a time in the past changes nothing."""
        gap = sim_time - self.now()
        if gap > 0:
            self._offset += gap

    def real_seconds_until(self, sim_time: float) -> float:
        """Real seconds until the clock reaches `sim_time` (0 when already there)."""
        return max(0.0, (sim_time - self.now()) / self.compression)
