"""Who the recipients are: invalid, opted out, capped, or reachable; and who said stop.

A number's kind comes from a hash of (seed, number), so the same number behaves the same
in every request and every run with that seed, whatever order the requests come in. The
explicit sets of the config win over the hash, for tests that need a known number.
"""

from __future__ import annotations

import hashlib
import math

from .config import SandboxConfig

__all__ = [
    "RECIPIENT_INVALID",
    "RECIPIENT_OK",
    "RECIPIENT_OPTED_OUT",
    "RECIPIENT_USER_LIMIT",
    "RecipientBook",
]

RECIPIENT_OK, RECIPIENT_INVALID, RECIPIENT_OPTED_OUT, RECIPIENT_USER_LIMIT = range(4)
_TWO_64 = float(2**64)


class RecipientBook:
    """Recipient kinds and the stop/resume state of users.

    Attributes:
        config: The sandbox configuration (read on each call, so runtime changes apply).

    Example:
        >>> book = RecipientBook(SandboxConfig(invalid_numbers={"4915100000000"}))
        >>> book.kind("+4915100000000") == RECIPIENT_INVALID
        True
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        # wa_id -> (simulated time of stop, simulated time of resume or +inf).
        self._stopped: dict[str, tuple[float, float]] = {}

    def uniform(self, number: str, salt: str = "") -> float:
        """A number in [0, 1) fixed by (seed, number, salt)."""
        key = f"{self.config.seed}:{salt}:{number.lstrip('+')}".encode()
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / _TWO_64

    def kind(self, number: str) -> int:
        """The recipient kind of `number` (one of the `RECIPIENT_*` constants)."""
        config = self.config
        digits = number.lstrip("+")
        if digits in config.invalid_numbers or number in config.invalid_numbers:
            return RECIPIENT_INVALID
        if digits in config.opted_out_numbers or number in config.opted_out_numbers:
            return RECIPIENT_OPTED_OUT
        if digits in config.user_limit_numbers or number in config.user_limit_numbers:
            return RECIPIENT_USER_LIMIT
        u = self.uniform(digits)
        if u < config.p_invalid_number:
            return RECIPIENT_INVALID
        u -= config.p_invalid_number
        if u < config.p_opted_out:
            return RECIPIENT_OPTED_OUT
        u -= config.p_opted_out
        if u < config.p_user_limit:
            return RECIPIENT_USER_LIMIT
        return RECIPIENT_OK

    def record_stop(self, number: str, stop_at: float, resume_at: float | None) -> None:
        """Remember that the user sends stop at `stop_at` (and resume at `resume_at`)."""
        self._stopped[number.lstrip("+")] = (stop_at, math.inf if resume_at is None else resume_at)

    def is_stopped(self, number: str, at: float) -> bool:
        """Whether the user has stopped marketing messages at simulated time `at`."""
        window = self._stopped.get(number.lstrip("+"))
        return window is not None and window[0] <= at < window[1]
