"""The interface every webhook sink implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

__all__ = ["WebhookSink"]


class WebhookSink(ABC):
    """Where webhook bodies go. The emitter retries a body while `deliver` returns False.

    Attributes:
        concurrent: Whether the emitter should run several deliveries at once (network
            sinks); local sinks are called one body after the other, which is faster.
    """

    concurrent: bool = False

    @abstractmethod
    async def deliver(self, body: bytes, headers: dict[str, str]) -> bool:
        """Hand over one body.

        Args:
            body: The raw JSON body, exactly as signed.
            headers: `Content-Type` and, with a secret, `X-Hub-Signature-256`.

        Returns:
            True when the sink took it (HTTP 2xx, or written); False to have it retried.
        """

    async def aclose(self) -> None:  # noqa: B027 - most sinks hold nothing to release
        """Release connections or files."""
