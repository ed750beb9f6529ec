"""`BatchSender`: sends many messages through `MMClient` and turns every one into an outcome.

Per message it applies the error taxonomy of `mmapi.errors`:

- accepted: the API returned a wamid;
- retryable errors (5xx, 131000, rate limits, connection failures before sending) are retried
  with exponential backoff and jitter, within a retry budget and an attempt limit;
- 131056 (pair rate limit) puts the recipient aside for 4**n seconds while others go on;
- permanent and fix-the-request errors end the message as `rejected`;
- a campaign-stopping error (bad key, paused template, account problems) stops the batch:
  messages not yet sent end as `not_sent`, so a later run picks them up;
- a timeout or dropped connection after the request left is `unknown`, never retried here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from .client import Endpoint, MMClient
from .errors import (
    APIError,
    CampaignStopError,
    OutcomeUnknownError,
    RecipientDeferredError,
    RetryableError,
    TransportError,
)
from .models import CloudMessageRequest, MarketingMessageRequest, SendResponse
from .settings import PAIR_RATE_BASE_DELAY_SECONDS
from .throttle import RetryBudget, backoff_delay

__all__ = ["BatchSender", "OutcomeState", "OutgoingMessage", "SendOutcome", "SendSummary"]

logger = logging.getLogger("mmapi.sender")

DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_BACKOFF_BASE_SECONDS = 0.5
# 131056 deferrals within one batch: 4, 16, 64 s; after that the recipient waits for a later run.
DEFAULT_MAX_DEFERRALS = 3
# A code that asks for a longer wait than this (ad sync: 10 min, per-user cap: 24 h) defers the
# message to a later run instead of holding a worker.
MAX_INLINE_WAIT_SECONDS = 60.0


def _waits_too_long(error: Exception) -> bool:
    retry_after = getattr(error, "retry_after", None)
    return retry_after is not None and retry_after > MAX_INLINE_WAIT_SECONDS


class OutcomeState(StrEnum):
    """How a message ended in this batch (the ledger's terminal states, plus two for later)."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    DEFERRED = "deferred"
    """Not sent yet for a reason that passes (pair limit, retries spent): send in a later run."""
    NOT_SENT = "not_sent"
    """The batch stopped (campaign-stopping error) before this message was sent."""
    SKIPPED = "skipped"
    """The claim was refused: another worker or an earlier run owns this message."""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to send, as the exact bytes of its request body.

    Holding bytes rather than models keeps a chunk of thousands of messages cheap in memory
    and takes validation off the send path: requests are validated when built (`of`).

    Attributes:
        key: The caller's stable message key (the ledger's primary key).
        endpoint: `marketing_messages` (MM API) or `messages` (Cloud API).
        body: The JSON request body.
    """

    key: str
    endpoint: Endpoint
    body: bytes

    @classmethod
    def of(
        cls, key: str, request: MarketingMessageRequest | CloudMessageRequest
    ) -> OutgoingMessage:
        """Validate-once constructor: the request model picks the endpoint."""
        endpoint: Endpoint = (
            "marketing_messages" if isinstance(request, MarketingMessageRequest) else "messages"
        )
        return cls(key=key, endpoint=endpoint, body=request.to_json())


@dataclass(slots=True)
class SendOutcome:
    """What happened to one message."""

    key: str
    state: OutcomeState
    attempts: int = 0
    wamid: str | None = None
    message_status: str | None = None
    error_code: int | None = None
    error_title: str | None = None
    first_sent_at: float | None = None
    finished_at: float | None = None


@dataclass
class SendSummary:
    """Counts of one batch, and why it stopped if it did."""

    counts: dict[OutcomeState, int] = field(default_factory=dict)
    errors: dict[int | None, int] = field(default_factory=dict)
    retries: int = 0
    rate_limited: int = 0
    stopped_reason: str | None = None
    elapsed_seconds: float = 0.0

    @property
    def accepted(self) -> int:
        return self.counts.get(OutcomeState.ACCEPTED, 0)

    @property
    def messages_per_second(self) -> float:
        return self.accepted / self.elapsed_seconds if self.elapsed_seconds else 0.0


class BatchSender:
    """Send a batch of messages at the client's throughput, with the retry rules above.

    Args:
        client: The API client (its throttle paces every request).
        retry_budget: Shared cap on retries; a new one per batch when omitted.
        max_attempts: Attempts per message for retryable errors.
        max_deferrals: Pair-limit deferrals per message within this batch.
        pair_delay_seconds: First wait of a pair-limited recipient; then 4x longer each time
            (4, 16, 64 s by default, as the API asks).
        backoff_base: First step of the exponential backoff for retryable errors.
        claim: Awaited once per message, when its first request has its turn from the
            throttle and is about to leave; the message is sent only if it returns True (the
            ledger commits `in_flight` there; False means another worker owns the message,
            which then ends `skipped`). Claiming at that moment, not when a worker picks the
            message up, means a crash leaves in doubt only requests that were leaving.
        on_outcome: Called once per message with its final outcome.

    Example:
        >>> async def run(client, messages):
        ...     summary = await BatchSender(client, on_outcome=print).send(messages)
        ...     return summary.accepted
    """

    def __init__(
        self,
        client: MMClient,
        *,
        retry_budget: RetryBudget | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_deferrals: int = DEFAULT_MAX_DEFERRALS,
        pair_delay_seconds: float = PAIR_RATE_BASE_DELAY_SECONDS,
        backoff_base: float = DEFAULT_BACKOFF_BASE_SECONDS,
        claim: Callable[[OutgoingMessage], Awaitable[bool]] | None = None,
        on_outcome: Callable[[SendOutcome], None] | None = None,
    ):
        self.client = client
        self.retry_budget = retry_budget or RetryBudget()
        self.max_attempts = max_attempts
        self.max_deferrals = max_deferrals
        self.pair_delay_seconds = pair_delay_seconds
        self.backoff_base = backoff_base
        self._claim = claim
        self._on_outcome = on_outcome
        self._stop: str | None = None
        self._stopped = asyncio.Event()

    async def send(self, messages: Iterable[OutgoingMessage]) -> SendSummary:
        """Send every message; returns when each has an outcome."""
        summary = SendSummary()
        started = time.monotonic()
        queue: asyncio.Queue[OutgoingMessage] = asyncio.Queue()
        items = list(messages)
        for message in items:
            queue.put_nowait(message)
        workers = min(self.client.throttle.max_in_flight, max(1, len(items)))
        retries_before = self.retry_budget.retries
        limited_before = self.client.throttle.rate_limited_count
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(self._worker(queue, summary))
        summary.retries = self.retry_budget.retries - retries_before
        summary.rate_limited = self.client.throttle.rate_limited_count - limited_before
        summary.stopped_reason = self._stop
        summary.elapsed_seconds = time.monotonic() - started
        return summary

    async def _worker(self, queue: asyncio.Queue[OutgoingMessage], summary: SendSummary) -> None:
        while not queue.empty():
            message = queue.get_nowait()
            outcome = await self._send_one(message)
            summary.counts[outcome.state] = summary.counts.get(outcome.state, 0) + 1
            if outcome.error_code is not None or outcome.state is OutcomeState.REJECTED:
                summary.errors[outcome.error_code] = summary.errors.get(outcome.error_code, 0) + 1
            if self._on_outcome is not None:
                self._on_outcome(outcome)

    async def _send_one(self, message: OutgoingMessage) -> SendOutcome:
        outcome = SendOutcome(key=message.key, state=OutcomeState.NOT_SENT)
        deferrals = 0
        self.retry_budget.record_attempt()
        if self._stop is not None:
            return self._finish(outcome, OutcomeState.NOT_SENT)
        while True:
            if self._stop is not None:
                return self._finish(outcome, OutcomeState.NOT_SENT)
            outcome.attempts += 1
            if outcome.first_sent_at is None:
                outcome.first_sent_at = time.time()
            try:
                answer = await self._request(message, first=outcome.attempts == 1)
            except OutcomeUnknownError as exc:
                outcome.error_title = str(exc)
                return self._finish(outcome, OutcomeState.UNKNOWN)
            except CampaignStopError as exc:
                if self._stop is None:
                    self._stop = f"{exc.code}: {exc.title}" if exc.code else str(exc.title)
                    self._stopped.set()
                    logger.warning("campaign stopped by the API: %s", self._stop)
                return self._finish(outcome, OutcomeState.NOT_SENT, exc)
            except RecipientDeferredError as exc:
                deferrals += 1
                if deferrals > self.max_deferrals or _waits_too_long(exc):
                    return self._finish(outcome, OutcomeState.DEFERRED, exc)
                await self._pause(self.pair_delay_seconds * 4 ** (deferrals - 1))
                continue
            except (RetryableError, TransportError) as exc:
                if (
                    _waits_too_long(exc)
                    or outcome.attempts >= self.max_attempts
                    or not self.retry_budget.try_spend()
                ):
                    return self._finish(outcome, OutcomeState.DEFERRED, exc)
                wait = exc.retry_after if isinstance(exc, APIError) else None
                await self._pause(
                    wait or backoff_delay(outcome.attempts - 1, base=self.backoff_base)
                )
                continue
            except APIError as exc:
                return self._finish(outcome, OutcomeState.REJECTED, exc)
            if answer is None:
                return self._finish(outcome, OutcomeState.SKIPPED)
            outcome.wamid = answer.wamid
            outcome.message_status = answer.message_status
            return self._finish(outcome, OutcomeState.ACCEPTED)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the batch is stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout=seconds)

    async def _request(self, message: OutgoingMessage, *, first: bool) -> SendResponse | None:
        """Send once; None when the claim (made on the first attempt only) was refused."""
        if not first or self._claim is None:
            return await self.client.send_body(message.endpoint, message.body)
        claim = functools.partial(self._claim, message)
        return await self.client.send_body(message.endpoint, message.body, before_send=claim)

    @staticmethod
    def _finish(
        outcome: SendOutcome, state: OutcomeState, error: Exception | None = None
    ) -> SendOutcome:
        outcome.state = state
        outcome.finished_at = time.time()
        if isinstance(error, APIError):
            outcome.error_code = error.code
            outcome.error_title = error.title
        elif error is not None:
            outcome.error_title = str(error)
        return outcome
