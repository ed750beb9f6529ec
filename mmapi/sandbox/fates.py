"""Message fates: what happens to an accepted message, decided once, at acceptance.

Every accepted message gets exactly one fate (read, delivered, failed, expired, dropped)
and the timed list of the webhook events that fate implies, on the simulated clock:

- recipient problems fail at once, with no `sent`: 131026 (invalid), 131050 (opted out or
  said stop before this send), 131049 (per-user marketing cap);
- `p_131000` fails with 131000; a held MM message is dropped with 132015 or sent late;
- otherwise `sent` after seconds; delivery with the route's probability after a lognormal
  delay (a share of phones is offline for hours or days). A message whose delivery would
  come after its TTL is `expired`: nothing follows `sent` (a failed webhook on expiry is
  not guaranteed). Undelivered messages fail 131026 or expire;
- `read` with the route's probability (sometimes without a `delivered` before it), then a
  click for MM sends with activity sharing, and sometimes a stop (and later a resume).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from .config import SandboxConfig
from .groundtruth import (
    FATE_DELIVERED,
    FATE_DROPPED,
    FATE_EXPIRED,
    FATE_FAILED,
    FATE_READ,
    KIND_CLICK,
    KIND_DELIVERED,
    KIND_FAILED,
    KIND_READ,
    KIND_RESUME,
    KIND_SENT,
    KIND_STOP,
)
from .recipients import (
    RECIPIENT_INVALID,
    RECIPIENT_OPTED_OUT,
    RECIPIENT_USER_LIMIT,
    RecipientBook,
)

__all__ = ["FateEngine", "MessagePlan"]

_SENT_SIGMA = 0.5
_CLICK_SIGMA = 1.0
_STOP_SIGMA = 1.0
_RESUME_SIGMA = 1.0
_HELD_SIGMA = 1.0
# An undelivered message that fails does so after the phone stayed unreachable a while.
_UNDELIVERABLE_MEDIAN_SECONDS = 3600.0
# Lognormal tails are cut, so a flush never jumps the clock by months: reads, clicks and
# stops come within two weeks; a delivery may still come after the longest TTL (30 days).
_MAX_DELAY_SECONDS = 14 * 86400.0
_MAX_DELIVERY_SECONDS = 45 * 86400.0


@dataclass(slots=True)
class MessagePlan:
    """The fate of one message and its webhook events.

    Attributes:
        fate: One of the `FATE_*` constants.
        error_code: The failure code of a failed or dropped message, else 0.
        events: `(simulated time, KIND_*)` pairs.
    """

    fate: int
    error_code: int = 0
    events: list[tuple[float, int]] = field(default_factory=list)


class FateEngine:
    """Draws message fates from a seeded random generator.

    Attributes:
        config: The sandbox configuration (read on each call, so runtime changes apply).
        recipients: Recipient kinds and stop state.

    Example:
        >>> engine = FateEngine(SandboxConfig(seed=1, invalid_numbers={"4915112345678"}))
        >>> plan = engine.plan(to="4915112345678", route_mm=True, marketing=True,
        ...     ttl_seconds=86400, activity_sharing=True, held=False, now=0.0)
        >>> plan.error_code, plan.events[0][1] == KIND_FAILED
        (131026, True)
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.recipients = RecipientBook(config)
        self.rng = random.Random(config.seed)

    def set_config(self, config: SandboxConfig) -> None:
        """Use a changed configuration from now on (the random sequence goes on)."""
        self.config = config
        self.recipients.config = config

    def _delay(self, median: float, sigma: float, cap: float = _MAX_DELAY_SECONDS) -> float:
        delay = self.rng.lognormvariate(math.log(median), sigma) if sigma > 0 else median
        return min(delay, cap)

    def plan(
        self,
        *,
        to: str,
        route_mm: bool,
        marketing: bool,
        ttl_seconds: int,
        activity_sharing: bool,
        held: bool,
        now: float,
    ) -> MessagePlan:
        """Decide the fate of a message accepted at simulated time `now`.

        Args:
            to: The recipient number.
            route_mm: Whether the message goes out through MM (else Cloud).
            marketing: Whether the template is a marketing one (stops and caps apply).
            ttl_seconds: Seconds the message may wait for delivery.
            activity_sharing: Whether clicks are reported (MM only).
            held: Whether MM answered held_for_quality_assessment.
            now: Simulated acceptance time.

        Returns:
            The fate and its events.
        """
        config = self.config
        rng = self.rng
        sent_at = now + self._delay(config.sent_median_seconds, _SENT_SIGMA)

        kind = self.recipients.kind(to)
        if kind == RECIPIENT_INVALID:
            return MessagePlan(FATE_FAILED, 131026, [(sent_at, KIND_FAILED)])
        if marketing and (kind == RECIPIENT_OPTED_OUT or self.recipients.is_stopped(to, now)):
            return MessagePlan(FATE_FAILED, 131050, [(sent_at, KIND_FAILED)])
        if marketing and kind == RECIPIENT_USER_LIMIT:
            return MessagePlan(FATE_FAILED, 131049, [(sent_at, KIND_FAILED)])
        if rng.random() < config.p_131000:
            return MessagePlan(FATE_FAILED, 131000, [(sent_at, KIND_FAILED)])
        if held:
            wait = self._delay(config.held_median_seconds, _HELD_SIGMA)
            if rng.random() < config.p_held_dropped:
                return MessagePlan(FATE_DROPPED, 132015, [(sent_at + wait, KIND_FAILED)])
            sent_at += wait

        events = [(sent_at, KIND_SENT)]
        if rng.random() >= config.p_delivered(route_mm):
            if rng.random() < config.p_undelivered_failed:
                failed_at = sent_at + self._delay(_UNDELIVERABLE_MEDIAN_SECONDS, 1.0)
                events.append((failed_at, KIND_FAILED))
                return MessagePlan(FATE_FAILED, 131026, events)
            return MessagePlan(FATE_EXPIRED, 0, events)

        if rng.random() < config.p_offline:
            median, sigma = config.offline_median_seconds, config.offline_sigma
        else:
            median, sigma = config.delivery_median_seconds, config.delivery_sigma
        delay = self._delay(median, sigma, _MAX_DELIVERY_SECONDS)
        delivered_at = sent_at + delay
        if delivered_at - now > ttl_seconds:
            return MessagePlan(FATE_EXPIRED, 0, events)
        if rng.random() >= config.p_read(route_mm):
            events.append((delivered_at, KIND_DELIVERED))
            return MessagePlan(FATE_DELIVERED, 0, events)

        read_at = delivered_at + self._delay(config.read_median_seconds, config.read_sigma)
        if rng.random() >= config.p_skip_delivered:
            events.append((delivered_at, KIND_DELIVERED))
        events.append((read_at, KIND_READ))
        if route_mm and activity_sharing and rng.random() < config.p_click:
            click_at = read_at + self._delay(config.click_median_seconds, _CLICK_SIGMA)
            events.append((click_at, KIND_CLICK))
        if marketing and rng.random() < config.p_stop_after_read:
            stop_at = read_at + self._delay(config.stop_median_seconds, _STOP_SIGMA)
            events.append((stop_at, KIND_STOP))
            resume_at = None
            if rng.random() < config.p_resume_after_stop:
                resume_at = stop_at + self._delay(config.resume_median_seconds, _RESUME_SIGMA)
                events.append((resume_at, KIND_RESUME))
            self.recipients.record_stop(to, stop_at, resume_at)
        return MessagePlan(FATE_READ, 0, events)
