"""Offline webhook generation: a campaign's webhooks as NDJSON files, without a server or clock.

It drives the sandbox's own parts the way a live run does: `FateEngine` decides each
message's fate, `Emitter` adds the disorder (duplicates, late events) and `BodyBuilder`
batches events into Meta-shaped bodies, and `GroundTruth` records what was delivered. Only
the HTTP layer and the real-time wait are skipped: the simulated clock is played forward at
once, as `POST /sandbox/flush` does. Benchmarks use it to make a million events in seconds;
tests use it for small realistic inputs with a known truth.

Example:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     made = generate_webhook_files(Path(folder), messages=50, seed=3)
    ...     made.bodies > 0 and made.status_events > 0
    True
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..settings import MARKETING_TTL_DEFAULT_SECONDS
from .catalog import TemplateCatalog
from .clock import SimClock
from .config import SandboxConfig
from .emitter import Emitter
from .fates import FateEngine
from .groundtruth import EVENT_NAMES, KIND_MASK, GroundTruth
from .sinks import FileSink, WebhookSink

__all__ = [
    "DEFAULT_GENERATOR_MM_SHARE",
    "DEFAULT_GENERATOR_SEND_RATE",
    "GeneratedWebhooks",
    "WebhookGenerator",
    "generate_webhook_files",
]

# Share of messages sent to /marketing_messages (the rest go to /messages, the Cloud arm).
DEFAULT_GENERATOR_MM_SHARE = 0.8
# Simulated acceptance rate of the campaign, messages per second.
DEFAULT_GENERATOR_SEND_RATE = 500.0
# Statuses per accepted message with the default probabilities (sent, delivered, read, failed).
_STATUSES_PER_MESSAGE = 2.45


@dataclass(slots=True)
class GeneratedWebhooks:
    """What a generator run wrote.

    Attributes:
        files: The NDJSON files, in the order written.
        messages: Messages accepted.
        bodies: Webhook bodies written (one line each).
        events: Delivered events by kind name (`sent`, ..., `click`, `stop`, `resume`),
            duplicates included.
        duplicates: Events delivered a second time.
        truth: The ground truth (messages and delivered events).
    """

    files: list[Path]
    messages: int
    bodies: int
    events: Counter[str]
    duplicates: int
    truth: GroundTruth = field(repr=False)

    @property
    def status_events(self) -> int:
        """Status events delivered (sent, delivered, read, failed), duplicates included."""
        return sum(self.events[name] for name in EVENT_NAMES[:4])


class _CountingTruth(GroundTruth):
    """The ground truth, also counting delivered events by kind as they come."""

    def __init__(self, catalog: TemplateCatalog) -> None:
        super().__init__(catalog)
        self.kinds = [0] * len(EVENT_NAMES)

    def add_event(self, code: int, ts: int) -> None:
        super().add_event(code, ts)
        self.kinds[code & KIND_MASK] += 1


class WebhookGenerator:
    """Plays a campaign through the sandbox's fates and emitter into a webhook sink.

    Attributes:
        config: What to simulate (probabilities, disorder, batching, identities).
        mm_share: Share of messages sent to `/marketing_messages`.
        send_rate: Simulated acceptance rate, messages per second.
        truth: The ground truth of everything generated so far.

    Example:
        >>> from mmapi.sandbox import MemorySink
        >>> sink = MemorySink()
        >>> generator = WebhookGenerator(SandboxConfig(seed=1), sink=sink)
        >>> generator.run(20) > 0 and len(sink.received) > 0
        True
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        sink: WebhookSink,
        mm_share: float = DEFAULT_GENERATOR_MM_SHARE,
        send_rate: float = DEFAULT_GENERATOR_SEND_RATE,
        start: float | None = None,
    ) -> None:
        if not 0.0 <= mm_share <= 1.0:
            raise ValueError(f"mm_share must be within [0, 1] (got {mm_share})")
        if send_rate <= 0:
            raise ValueError(f"send_rate must be positive (got {send_rate})")
        self.config = config or SandboxConfig()
        self.mm_share = mm_share
        self.send_rate = send_rate
        self.clock = SimClock(self.config.time_compression, start=start)
        self.catalog = TemplateCatalog(self.config.templates)
        self.truth = _CountingTruth(self.catalog)
        self.fates = FateEngine(self.config)
        self.emitter = Emitter(self.config, self.clock, self.truth, self.catalog, sink)
        self.rng = random.Random(self.config.seed + 3)
        self._marketing = [entry for entry in self.catalog.entries if entry.is_marketing]
        if not self._marketing:
            raise ValueError("templates: the generator needs at least one MARKETING template")
        self._accepted = 0

    def _accept(self, number: int) -> None:
        config = self.config
        rng = self.rng
        mm = rng.random() < self.mm_share
        entry = self._marketing[number % len(self._marketing)]
        if mm:
            route_mm = config.onboarded
        else:
            route_mm = config.route_marketing_via_mm_on_messages and config.onboarded
        held = mm and route_mm and config.p_held > 0 and rng.random() < config.p_held
        ttl = entry.ttl_seconds if route_mm else MARKETING_TTL_DEFAULT_SECONDS
        accepted_at = self.clock.start + self._accepted / self.send_rate
        to = f"+4915{number:09d}"
        plan = self.fates.plan(
            to=to,
            route_mm=route_mm,
            marketing=True,
            ttl_seconds=ttl,
            activity_sharing=config.waba_activity_sharing,
            held=held,
            now=accepted_at,
        )
        index = self.truth.add_message(
            to=to,
            endpoint=0 if mm else 1,
            route=0 if route_mm else 1,
            category=0 if route_mm else 1,
            template_index=entry.index,
            accepted_at=accepted_at,
            fate=plan.fate,
            error_code=plan.error_code,
            ttl_seconds=ttl,
            activity_sharing=config.waba_activity_sharing,
            held=held,
            biz_opaque_callback_data=None if mm else f"arm=cloud;n={number}",
        )
        self.emitter.schedule(index, plan.events)
        self._accepted += 1

    async def arun(self, messages: int) -> int:
        """Accept `messages` more messages and deliver all their webhooks (the sink stays open).

        Args:
            messages: Messages to accept.

        Returns:
            Events delivered by this call, duplicates included.
        """
        before = self.truth.event_count
        for _ in range(messages):
            self._accept(self._accepted)
        await self.emitter.flush()
        return self.truth.event_count - before

    def run(self, messages: int) -> int:
        """`arun` in a fresh event loop, then close the sink."""

        async def play() -> int:
            try:
                return await self.arun(messages)
            finally:
                await self.emitter.sink.aclose()

        return asyncio.run(play())

    def event_counts(self) -> Counter[str]:
        """Delivered events by kind name, duplicates included."""
        return Counter(
            {EVENT_NAMES[kind]: count for kind, count in enumerate(self.truth.kinds) if count}
        )


def generate_webhook_files(
    directory: Path,
    *,
    messages: int | None = None,
    status_events: int | None = None,
    seed: int = 0,
    config: SandboxConfig | None = None,
    lines_per_file: int = 100_000,
    mm_share: float = DEFAULT_GENERATOR_MM_SHARE,
) -> GeneratedWebhooks:
    """Write a campaign's webhook bodies as NDJSON files, as the sandbox's file sink does.

    Give either `messages`, or `status_events` for about that many status events (the
    message count is estimated from the default fate probabilities, then topped up).

    Args:
        directory: Where `webhooks-<n>.ndjson` go (created if missing).
        messages: Messages to accept.
        status_events: Status events wanted instead (at least this many are written).
        seed: Seed of the run, used when `config` is None.
        config: The sandbox configuration; `SandboxConfig(seed=seed)` when None.
        lines_per_file: Bodies per file before the next file starts.
        mm_share: Share of messages sent to `/marketing_messages`.

    Returns:
        The files, counts and ground truth.

    Raises:
        ValueError: neither or both of `messages` and `status_events` given.
    """
    if (messages is None) == (status_events is None):
        raise ValueError("give exactly one of messages and status_events")
    config = config or SandboxConfig(seed=seed)
    sink = FileSink(directory, max_lines=lines_per_file)
    generator = WebhookGenerator(config, sink=sink, mm_share=mm_share)

    def statuses() -> int:
        return sum(generator.truth.kinds[:4])

    async def play() -> None:
        try:
            if messages is not None:
                await generator.arun(messages)
                return
            assert status_events is not None
            while statuses() < status_events:
                missing = status_events - statuses()
                await generator.arun(max(1, int(missing / _STATUSES_PER_MESSAGE) + 1))
        finally:
            await sink.aclose()

    asyncio.run(play())
    counts = generator.event_counts()
    files = sorted(directory.glob("webhooks-*.ndjson"), key=lambda p: int(p.stem.split("-")[1]))
    return GeneratedWebhooks(
        files=files,
        messages=generator.truth.message_count,
        bodies=generator.emitter.bodies_delivered,
        events=counts,
        duplicates=generator.emitter.duplicates,
        truth=generator.truth,
    )
