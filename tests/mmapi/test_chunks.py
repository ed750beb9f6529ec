"""LedgerWriter: outcomes buffered for a group commit are never dropped, even when it fails."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Sequence

import pytest

from mmapi.chunks import OUTCOME_FLUSH_SECONDS, LedgerWriter
from mmapi.sender import OutcomeState, SendOutcome


class SlowLedger:
    """Records outcomes after a delay; fails the first `failures` commits."""

    def __init__(self, *, commit_seconds: float = 0.0, failures: int = 0):
        self.commit_seconds = commit_seconds
        self.failures = failures
        self.recorded: list[str] = []
        self._lock = threading.Lock()

    def mark_in_flight(self, keys: Sequence[str]) -> set[str]:
        return set(keys)

    def record_outcomes(self, outcomes: Iterable[SendOutcome]) -> None:
        batch = [outcome.key for outcome in outcomes]
        time.sleep(self.commit_seconds)
        with self._lock:
            if self.failures:
                self.failures -= 1
                raise RuntimeError("database is locked")
            self.recorded.extend(batch)


def _outcome(key: str) -> SendOutcome:
    return SendOutcome(key=key, state=OutcomeState.ACCEPTED, wamid=f"wamid.{key}")


async def test_aclose_waits_for_a_commit_in_progress_and_commits_the_rest():
    ledger = SlowLedger(commit_seconds=0.3)
    writer = LedgerWriter(ledger)  # type: ignore[arg-type]
    writer.record(_outcome("a"))
    await asyncio.sleep(OUTCOME_FLUSH_SECONDS + 0.1)  # the background commit of "a" is running
    writer.record(_outcome("b"))
    await writer.aclose()
    assert sorted(ledger.recorded) == ["a", "b"]


async def test_a_failed_background_commit_keeps_its_outcomes_for_the_next():
    ledger = SlowLedger(failures=1)
    writer = LedgerWriter(ledger)  # type: ignore[arg-type]
    writer.record(_outcome("a"))
    await asyncio.sleep(OUTCOME_FLUSH_SECONDS + 0.1)  # first commit failed
    assert ledger.recorded == []
    writer.record(_outcome("b"))
    await writer.aclose()
    assert sorted(ledger.recorded) == ["a", "b"]


async def test_aclose_raises_when_outcomes_cannot_be_committed():
    ledger = SlowLedger(failures=10)
    writer = LedgerWriter(ledger)  # type: ignore[arg-type]
    writer.record(_outcome("a"))
    with pytest.raises(RuntimeError, match="locked"):
        await writer.aclose()
    assert ledger.recorded == []
