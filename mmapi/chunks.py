"""Sending one chunk of a campaign plan through the ledger (the core of the send task).

The ledger is written around every request without holding up the sender: claims
(`planned` → `in_flight`) from all concurrent requests are committed together (group
commit: one transaction for whatever is waiting), and each message's request waits for its
claim's commit before it leaves. Outcomes are buffered and committed every few hundred
milliseconds; a crash before that leaves them `in_flight`, which the next run treats as
`unknown` and reconciles, never as "not sent".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from .campaign import CampaignSpec
from .client import MMClient
from .ledger import Ledger
from .sender import BatchSender, OutgoingMessage, SendOutcome
from .throttle import RetryBudget

__all__ = ["ChunkResult", "LedgerWriter", "build_messages", "send_chunk_messages"]

OUTCOME_FLUSH_SECONDS = 0.25

logger = logging.getLogger("mmapi.chunks")


class LedgerWriter:
    """Group-commits claims and outcomes of concurrent requests to the ledger.

    Database calls run in a worker thread, one at a time (SQLite has a single writer), so
    the event loop keeps sending while a commit is on its way to disk.

    Args:
        ledger: The campaign's ledger.
    """

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self._claims: list[tuple[str, asyncio.Future[bool]]] = []
        self._claim_task: asyncio.Task[None] | None = None
        self._outcomes: list[SendOutcome] = []
        self._outcome_task: asyncio.Task[None] | None = None
        self._flush_now = asyncio.Event()
        self._db = asyncio.Lock()

    async def claim(self, message: OutgoingMessage) -> bool:
        """Commit `in_flight` for this message; True if it was `planned` (so it may be sent)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._claims.append((message.key, future))
        if self._claim_task is None:
            self._claim_task = asyncio.create_task(self._flush_claims())
        return await future

    async def _flush_claims(self) -> None:
        try:
            while self._claims:
                batch, self._claims = self._claims, []
                try:
                    async with self._db:
                        moved = await asyncio.to_thread(
                            self.ledger.mark_in_flight, [key for key, _ in batch]
                        )
                except Exception as exc:  # handed to every waiting request
                    for _, future in batch:
                        future.set_exception(exc)
                    continue
                for key, future in batch:
                    future.set_result(key in moved)
        finally:
            self._claim_task = None

    def record(self, outcome: SendOutcome) -> None:
        """Buffer an outcome; a background flush commits it shortly."""
        self._outcomes.append(outcome)
        if self._outcome_task is None:
            self._outcome_task = asyncio.create_task(self._flush_outcomes_later())

    async def _flush_outcomes_later(self) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), OUTCOME_FLUSH_SECONDS)
            await self.flush()
        except Exception as exc:  # the outcomes stay buffered: the next flush retries them
            logger.warning("ledger commit of outcomes failed, will retry: %s", exc)
        finally:
            self._outcome_task = None

    async def flush(self) -> None:
        """Commit every buffered outcome now.

        A batch that fails to commit goes back to the buffer, so the error (raised here)
        never hides an outcome: the chunk fails, and its messages stay `in_flight` in the
        ledger for the next run to reconcile, instead of passing for finished.
        """
        while self._outcomes:
            batch, self._outcomes = self._outcomes, []
            try:
                # The lock per batch, not per flush: claims waiting for it go in between.
                async with self._db:
                    await asyncio.to_thread(self.ledger.record_outcomes, batch)
            except BaseException:
                self._outcomes[:0] = batch
                raise

    async def aclose(self) -> None:
        """Wait for pending claims, then commit the remaining outcomes (raising if it fails)."""
        if self._claim_task is not None:
            await self._claim_task
        self._flush_now.set()  # the background flush commits at once instead of sleeping
        if self._outcome_task is not None:
            await self._outcome_task
        await self.flush()


def build_messages(spec: CampaignSpec, plan: pa.Table) -> list[OutgoingMessage]:
    """Turn plan rows into request bodies (MM arm → /marketing_messages, cloud → /messages).

    The plan was validated when it was prepared (numbers, components against the template),
    so bodies are assembled with orjson here instead of one pydantic model per message; a test
    checks they equal what `MarketingMessageRequest.to_json` makes.
    """
    language = {"code": spec.template.language, "policy": "deterministic"}
    mm_extra: dict[str, object] = {"product_policy": str(spec.product_policy)}
    if spec.activity_sharing is not None:
        mm_extra = {"message_activity_sharing": spec.activity_sharing, **mm_extra}
    messages = []
    for row in plan.select(["message_key", "recipient", "arm", "components"]).to_pylist():
        template: dict[str, object] = {"name": spec.template.name, "language": language}
        if row["components"]:
            template["components"] = orjson.loads(row["components"])
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": row["recipient"],
            "type": "template",
            "template": template,
        }
        if row["arm"] == "mm":
            message = OutgoingMessage(
                row["message_key"], "marketing_messages", orjson.dumps({**body, **mm_extra})
            )
        else:
            message = OutgoingMessage(row["message_key"], "messages", orjson.dumps(body))
        messages.append(message)
    return messages


@dataclass
class ChunkResult:
    """What one chunk did."""

    chunk: int
    counts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    stopped_reason: str | None = None
    retries: int = 0
    rate_limited: int = 0
    elapsed_seconds: float = 0.0


async def send_chunk_messages(
    *,
    spec: CampaignSpec,
    ledger: Ledger,
    client: MMClient,
    chunk: int,
    plan_rows: pa.Table,
    retry_budget: RetryBudget | None = None,
    on_outcome: Callable[[SendOutcome], None] | None = None,
) -> ChunkResult:
    """Send the chunk's messages that are still `planned`, writing the ledger around each.

    Args:
        spec: The campaign.
        ledger: Its ledger.
        client: The API client (shared by concurrent chunks, so one throttle paces them all).
        chunk: The chunk number.
        plan_rows: The chunk's rows of plan.parquet.
        retry_budget: Shared across the campaign's chunks.
        on_outcome: Also called with each outcome (progress reporting).
    """
    planned = set(await asyncio.to_thread(ledger.planned_keys, spec.campaign_id, chunk))
    keys = pa.array(list(planned), type=plan_rows.schema.field("message_key").type)
    rows = plan_rows.filter(pc.is_in(plan_rows["message_key"], keys))
    messages = build_messages(spec, rows)
    writer = LedgerWriter(ledger)

    def record(outcome: SendOutcome) -> None:
        writer.record(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    sender = BatchSender(client, retry_budget=retry_budget, claim=writer.claim, on_outcome=record)
    try:
        summary = await sender.send(messages)
    finally:
        await writer.aclose()
    left = await asyncio.to_thread(ledger.planned_keys, spec.campaign_id, chunk)
    stopped = summary.stopped_reason is not None
    await asyncio.to_thread(
        ledger.finish_chunk, spec.campaign_id, chunk, done=not left and not stopped
    )
    return ChunkResult(
        chunk=chunk,
        counts={str(state): count for state, count in summary.counts.items()},
        errors={str(code): count for code, count in summary.errors.items()},
        stopped_reason=summary.stopped_reason,
        retries=summary.retries,
        rate_limited=summary.rate_limited,
        elapsed_seconds=summary.elapsed_seconds,
    )
