"""A progress bar for the CLI that follows a campaign's ledger while its flow runs."""

from __future__ import annotations

import threading
from types import TracebackType

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import SQLAlchemyError

from mmapi.ledger import Ledger, LedgerState

__all__ = ["LedgerProgress"]

POLL_SECONDS = 0.5
# States that end a message for this run.
DONE_STATES = (LedgerState.ACCEPTED, LedgerState.REJECTED, LedgerState.UNKNOWN)


class LedgerProgress:
    """Poll the ledger from a thread and draw messages done / planned.

    The flow writes the ledger anyway, so the bar needs no hook into the flow: it works the
    same for a local run and for a deployment on a worker sharing the ledger.

    Args:
        ledger_url: The campaign's ledger.
        campaign_id: The campaign.
        enabled: Draw nothing when False.
    """

    def __init__(self, ledger_url: str, campaign_id: str, *, enabled: bool = True):
        self.ledger_url = ledger_url
        self.campaign_id = campaign_id
        self.enabled = enabled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LedgerProgress:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        columns = (TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        ledger: Ledger | None = None
        with Progress(*columns, transient=True) as progress:
            task = progress.add_task("sending", total=None)
            while not self._stop.wait(POLL_SECONDS):
                try:
                    ledger = ledger or Ledger(self.ledger_url)
                    counts = ledger.counts(self.campaign_id)
                except SQLAlchemyError:
                    continue  # not created yet
                total = sum(counts.values())
                done = sum(counts.get(state, 0) for state in DONE_STATES)
                progress.update(task, total=total or None, completed=done)
        if ledger is not None:
            ledger.dispose()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
