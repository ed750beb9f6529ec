"""A sink that takes every body and keeps none: the ground truth still records the events."""

from __future__ import annotations

from .base import WebhookSink

__all__ = ["NullSink"]


class NullSink(WebhookSink):
    """Takes every body and drops it; counts them.

    Attributes:
        bodies: Bodies taken so far.
    """

    def __init__(self) -> None:
        self.bodies = 0

    async def deliver(self, body: bytes, headers: dict[str, str]) -> bool:
        """Take the body."""
        self.bodies += 1
        return True
