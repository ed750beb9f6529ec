"""The send ledger: one row per message, written before and after each request.

States: `planned` → `in_flight` → `accepted` | `rejected` | `unknown`. A message goes
`in_flight` in a committed transaction *before* its request leaves, and only if it was still
`planned` (a conditional UPDATE ... RETURNING): so a crash at any point loses nothing, and
two workers sending the same chunk can never both send one message. Messages a dead run left
`in_flight` become `unknown` and are reconciled against landed status webhooks before anything
is sent again (see `reconcile_unknown`).

SQLite by default (a file next to the campaign's outputs); any SQLAlchemy URL, Postgres when
several workers share a campaign. Chunks are claimed with a lease, so a chunk whose worker
died is taken over after the lease expires.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from .errors import ConfigurationError
from .schemas import SENDS_SCHEMA
from .sender import OutcomeState, SendOutcome

__all__ = ["ClaimedChunk", "Ledger", "LedgerState", "StatusSighting", "check_ledger_url"]

_metadata = MetaData()

messages = Table(
    "send_ledger",
    _metadata,
    Column("message_key", String(64), primary_key=True),
    Column("campaign_id", String(64), nullable=False, index=True),
    Column("chunk", Integer, nullable=False),
    Column("recipient", String(20), nullable=False),
    Column("country", String(2)),
    Column("arm", String(8), nullable=False),
    Column("template_name", String(512), nullable=False),
    Column("language", String(15), nullable=False),
    Column("state", String(16), nullable=False),
    Column("wamid", String(128)),
    Column("message_status", String(64)),
    Column("error_code", Integer),
    Column("error_title", String(1024)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("ttl_seconds", Integer),
    # Unix seconds (float): portable across SQLite and Postgres, converted on export.
    Column("planned_at", Float),
    Column("sent_at", Float),
    Column("finished_at", Float),
    Column("reconciled", String(32)),
)

chunks = Table(
    "send_chunks",
    _metadata,
    Column("campaign_id", String(64), primary_key=True),
    Column("chunk", Integer, primary_key=True),
    Column("state", String(16), nullable=False),  # pending | done
    Column("owner", String(128)),
    Column("lease_until", Float),
)

# The workers sending a campaign right now, so they can share its messages-per-second cap.
workers = Table(
    "send_workers",
    _metadata,
    Column("campaign_id", String(64), primary_key=True),
    Column("owner", String(128), primary_key=True),
    Column("heartbeat_at", Float, nullable=False),
    # How many workers this one's rate assumes: a newcomer waits until all assume it too.
    Column("assumed_workers", Integer, nullable=False),
)


class LedgerState:
    """The ledger's message states."""

    PLANNED = "planned"
    IN_FLIGHT = "in_flight"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


# What a batch outcome does to the ledger row: deferred and not-sent go back to planned.
_STATE_OF_OUTCOME = {
    OutcomeState.ACCEPTED: LedgerState.ACCEPTED,
    OutcomeState.REJECTED: LedgerState.REJECTED,
    OutcomeState.UNKNOWN: LedgerState.UNKNOWN,
    OutcomeState.DEFERRED: LedgerState.PLANNED,
    OutcomeState.NOT_SENT: LedgerState.PLANNED,
}


@dataclass(frozen=True, slots=True)
class ClaimedChunk:
    """A chunk a worker has claimed.

    Attributes:
        chunk: Its number.
        in_doubt: Requests a dead worker left `in_flight` in it, now `unknown` (a takeover).
        taken_from: The worker whose lease on it ran out (a takeover), or None.
    """

    chunk: int
    in_doubt: int = 0
    taken_from: str | None = None


@dataclass(frozen=True, slots=True)
class StatusSighting:
    """A landed status webhook, as reconciliation needs it."""

    recipient: str
    wamid: str
    ts: float


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # The busy timeout first: the journal-mode pragma itself must wait for a busy database
    # (a connection opened mid-send) instead of failing with "database is locked".
    cursor.execute("PRAGMA busy_timeout=30000")
    # WAL + FULL: a committed in_flight mark survives a SIGKILL and a power cut.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def check_ledger_url(ledger_url: str | None) -> None:
    """A ledger URL must not carry a password: Prefect stores a flow run's parameters.

    Raises:
        ConfigurationError: the URL holds a password (the message shows it masked).
    """
    if ledger_url and "://" in ledger_url and make_url(ledger_url).password:
        masked = make_url(ledger_url).render_as_string(hide_password=True)
        raise ConfigurationError(
            f"ledger_url {masked} holds a password, which Prefect would store with the flow "
            "run's parameters: give it through the database's own means instead "
            "(PGPASSWORD or ~/.pgpass for Postgres)"
        )


class Ledger:
    """The send ledger on any SQLAlchemy database.

    Args:
        url: A SQLAlchemy URL (`sqlite:///path/ledger.sqlite`, `postgresql+psycopg://...`).

    Example:
        >>> ledger = Ledger("sqlite:///:memory:")
        >>> ledger.counts("c1")
        {}
    """

    def __init__(self, url: str):
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        # Workers starting together race to create the tables: a loser tries again and
        # finds the tables the others made (each attempt gets past at least one of them).
        for attempt in range(len(_metadata.tables) + 1):
            try:
                _metadata.create_all(self.engine)
                break
            except DBAPIError:
                if attempt == len(_metadata.tables):
                    raise

    def __repr__(self) -> str:
        # The URL's password must never reach a log: render it masked.
        return f"Ledger({self.engine.url.render_as_string(hide_password=True)!r})"

    def dispose(self) -> None:
        """Close the connection pool."""
        self.engine.dispose()

    # -- planning -------------------------------------------------------------------------

    def plan(self, rows: pa.Table, *, chunk_size: int, ttl_seconds: int | None) -> int:
        """Insert planned messages (plan.parquet columns) and their chunks; existing keys stay.

        Chunk numbers follow the plan's row order, so a re-run plans the same chunks.

        Returns:
            How many messages were new.
        """
        now = time.time()
        records = [
            {
                "message_key": row["message_key"],
                "campaign_id": row["campaign_id"],
                "chunk": index // chunk_size,
                "recipient": row["recipient"],
                "country": row.get("country"),
                "arm": row["arm"],
                "template_name": row["template_name"],
                "language": row["language"],
                "state": LedgerState.PLANNED,
                "attempts": 0,
                "ttl_seconds": ttl_seconds,
                "planned_at": now,
            }
            for index, row in enumerate(rows.to_pylist())
        ]
        if not records:
            return 0
        try:
            return self._insert_plan(records)
        except IntegrityError:
            # Another worker planned the same campaign at the same moment and committed
            # first: planning again inserts only what it did not.
            return self._insert_plan(records)

    def _insert_plan(self, records: list[dict[str, Any]]) -> int:
        campaign_id = records[0]["campaign_id"]
        chunk_ids = sorted({r["chunk"] for r in records})
        with self.engine.begin() as connection:
            existing = set(
                connection.execute(
                    select(messages.c.message_key).where(messages.c.campaign_id == campaign_id)
                ).scalars()
            )
            new = [r for r in records if r["message_key"] not in existing]
            for start in range(0, len(new), 5000):
                connection.execute(messages.insert(), new[start : start + 5000])
            known_chunks = set(
                connection.execute(
                    select(chunks.c.chunk).where(chunks.c.campaign_id == campaign_id)
                ).scalars()
            )
            fresh = [
                {"campaign_id": campaign_id, "chunk": c, "state": "pending"}
                for c in chunk_ids
                if c not in known_chunks
            ]
            if fresh:
                connection.execute(chunks.insert(), fresh)
        return len(new)

    # -- chunks ---------------------------------------------------------------------------

    def claim_chunk(
        self, campaign_id: str, owner: str, lease_seconds: float
    ) -> ClaimedChunk | None:
        """Claim the next chunk that is pending and not leased (or whose lease expired).

        Returns:
            The chunk, or None when nothing is left to claim.
        """
        now = time.time()
        with self.engine.begin() as connection:
            candidates = connection.execute(
                select(chunks.c.chunk, chunks.c.owner)
                .where(
                    chunks.c.campaign_id == campaign_id,
                    chunks.c.state == "pending",
                    or_(chunks.c.lease_until.is_(None), chunks.c.lease_until < now),
                )
                .order_by(chunks.c.chunk)
            ).all()
            # A released chunk has no owner; one still owned has an expired lease.
            for chunk, previous_owner in candidates:
                claimed = connection.execute(
                    update(chunks)
                    .where(
                        chunks.c.campaign_id == campaign_id,
                        chunks.c.chunk == chunk,
                        chunks.c.state == "pending",
                        or_(chunks.c.lease_until.is_(None), chunks.c.lease_until < now),
                    )
                    .values(owner=owner, lease_until=now + lease_seconds)
                )
                if claimed.rowcount == 1:
                    # A live worker holds the lease of every message it has in flight, so any
                    # `in_flight` left in a claimable chunk was a dead worker's: in doubt.
                    orphaned = connection.execute(
                        update(messages)
                        .where(
                            messages.c.campaign_id == campaign_id,
                            messages.c.chunk == chunk,
                            messages.c.state == LedgerState.IN_FLIGHT,
                        )
                        .values(state=LedgerState.UNKNOWN)
                    )
                    return ClaimedChunk(chunk, orphaned.rowcount, previous_owner)
        return None

    # -- workers --------------------------------------------------------------------------

    def heartbeat(
        self,
        campaign_id: str,
        owner: str,
        *,
        assumed_workers: int,
        timeout_seconds: float,
        lease_seconds: float | None = None,
    ) -> dict[str, int]:
        """Record that this worker sends the campaign, assuming `assumed_workers` share it.

        With `lease_seconds`, the heartbeat also extends the leases of the chunks this worker
        holds to `lease_seconds` from now: a live worker keeps its chunks however long they
        take, and a dead one's chunks can be taken over `lease_seconds` after its last beat.

        Returns:
            Every live worker (this one included) and the number of workers it assumes.
            A worker whose last heartbeat is older than `timeout_seconds` is not live.
        """
        now = time.time()
        values = {"heartbeat_at": now, "assumed_workers": assumed_workers}
        with self.engine.begin() as connection:
            seen = connection.execute(
                update(workers)
                .where(workers.c.campaign_id == campaign_id, workers.c.owner == owner)
                .values(**values)
            )
            if seen.rowcount == 0:
                connection.execute(
                    workers.insert(), {"campaign_id": campaign_id, "owner": owner, **values}
                )
            connection.execute(
                delete(workers).where(
                    workers.c.campaign_id == campaign_id,
                    workers.c.heartbeat_at < now - 10 * timeout_seconds,
                )
            )
            if lease_seconds is not None:
                connection.execute(
                    update(chunks)
                    .where(
                        chunks.c.campaign_id == campaign_id,
                        chunks.c.owner == owner,
                        chunks.c.state == "pending",
                    )
                    .values(lease_until=now + lease_seconds)
                )
            live = connection.execute(
                select(workers.c.owner, workers.c.assumed_workers).where(
                    workers.c.campaign_id == campaign_id,
                    workers.c.heartbeat_at >= now - timeout_seconds,
                )
            )
            return {row.owner: row.assumed_workers for row in live}

    def live_workers(self, campaign_id: str, timeout_seconds: float) -> int:
        """How many workers sending the campaign heartbeated in the last `timeout_seconds`."""
        since = time.time() - timeout_seconds
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.count()).where(
                        workers.c.campaign_id == campaign_id, workers.c.heartbeat_at >= since
                    )
                ).scalar_one()
            )

    def leave(self, campaign_id: str, owner: str) -> None:
        """This worker stops sending the campaign: the others may take its share at once."""
        with self.engine.begin() as connection:
            connection.execute(
                delete(workers).where(
                    workers.c.campaign_id == campaign_id, workers.c.owner == owner
                )
            )

    def lease_owners(self, campaign_id: str) -> set[str]:
        """Owners of the campaign's chunks that are leased and not done."""
        with self.engine.connect() as connection:
            return set(
                connection.execute(
                    select(chunks.c.owner).where(
                        chunks.c.campaign_id == campaign_id,
                        chunks.c.state == "pending",
                        chunks.c.owner.is_not(None),
                    )
                ).scalars()
            )

    def chunks_left(self, campaign_id: str) -> tuple[int, int]:
        """Pending chunks: how many there are, and how many of them can be claimed now."""
        now = time.time()
        claimable = or_(chunks.c.lease_until.is_(None), chunks.c.lease_until < now)
        with self.engine.connect() as connection:
            row = connection.execute(
                select(func.count(), func.count().filter(claimable)).where(
                    chunks.c.campaign_id == campaign_id, chunks.c.state == "pending"
                )
            ).one()
        return int(row[0]), int(row[1])

    def release_leases(self, campaign_id: str, owners: Iterable[str]) -> int:
        """Free the chunks leased by these owners (known to be dead) for others to claim."""
        owners = list(owners)
        if not owners:
            return 0
        with self.engine.begin() as connection:
            result = connection.execute(
                update(chunks)
                .where(
                    chunks.c.campaign_id == campaign_id,
                    chunks.c.state == "pending",
                    chunks.c.owner.in_(owners),
                )
                .values(owner=None, lease_until=None)
            )
        return result.rowcount

    def finish_chunk(self, campaign_id: str, chunk: int, *, done: bool) -> None:
        """Release a chunk: `done` when no message of it is left planned."""
        with self.engine.begin() as connection:
            connection.execute(
                update(chunks)
                .where(chunks.c.campaign_id == campaign_id, chunks.c.chunk == chunk)
                .values(state="done" if done else "pending", owner=None, lease_until=None)
            )

    def reopen_chunks(self, campaign_id: str) -> int:
        """Mark chunks that still hold planned messages as pending again (for a re-run)."""
        with self.engine.begin() as connection:
            with_planned = select(messages.c.chunk).where(
                messages.c.campaign_id == campaign_id, messages.c.state == LedgerState.PLANNED
            )
            result = connection.execute(
                update(chunks)
                .where(
                    chunks.c.campaign_id == campaign_id,
                    chunks.c.state == "done",
                    chunks.c.chunk.in_(with_planned),
                )
                .values(state="pending", owner=None, lease_until=None)
            )
        return result.rowcount

    # -- messages -------------------------------------------------------------------------

    def planned_keys(self, campaign_id: str, chunk: int) -> list[str]:
        """Keys of the chunk's messages still `planned`, in plan order."""
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(messages.c.message_key)
                    .where(
                        messages.c.campaign_id == campaign_id,
                        messages.c.chunk == chunk,
                        messages.c.state == LedgerState.PLANNED,
                    )
                    .order_by(messages.c.message_key)
                ).scalars()
            )

    def mark_in_flight(self, keys: Sequence[str]) -> set[str]:
        """Move `planned` messages to `in_flight` and commit; only those returned may be sent."""
        if not keys:
            return set()
        now = time.time()
        with self.engine.begin() as connection:
            moved = connection.execute(
                update(messages)
                .where(messages.c.message_key.in_(keys), messages.c.state == LedgerState.PLANNED)
                .values(
                    state=LedgerState.IN_FLIGHT,
                    attempts=messages.c.attempts + 1,
                    sent_at=func.coalesce(messages.c.sent_at, now),
                )
                .returning(messages.c.message_key)
            ).scalars()
            return set(moved)

    def record_outcomes(self, outcomes: Iterable[SendOutcome]) -> None:
        """Write each outcome (only rows still `in_flight` change), in one transaction."""
        rows = [
            {
                "k": outcome.key,
                "state": _STATE_OF_OUTCOME[outcome.state],
                "wamid": outcome.wamid,
                "message_status": outcome.message_status,
                "error_code": outcome.error_code,
                "error_title": (outcome.error_title or "")[:1024] or None,
                "finished_at": outcome.finished_at or time.time(),
            }
            for outcome in outcomes
            if outcome.state is not OutcomeState.SKIPPED
        ]
        if not rows:
            return
        statement = (
            update(messages)
            .where(
                messages.c.message_key == bindparam("k"),
                messages.c.state == LedgerState.IN_FLIGHT,
            )
            .values(
                state=bindparam("state"),
                wamid=bindparam("wamid"),
                message_status=bindparam("message_status"),
                error_code=bindparam("error_code"),
                error_title=bindparam("error_title"),
                finished_at=bindparam("finished_at"),
            )
        )
        with self.engine.begin() as connection:
            connection.execute(statement, rows)

    def planned_recipients(self, campaign_id: str) -> pa.Table:
        """The campaign's `planned` messages: `message_key` and `recipient`."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(messages.c.message_key, messages.c.recipient).where(
                    messages.c.campaign_id == campaign_id,
                    messages.c.state == LedgerState.PLANNED,
                )
            ).all()
        return pa.table(
            {
                "message_key": pa.array([row.message_key for row in rows], pa.string()),
                "recipient": pa.array([row.recipient for row in rows], pa.string()),
            }
        )

    def suppress_planned(self, reasons: dict[str, str]) -> int:
        """End `planned` messages that must not be sent after all (`rejected`, with the reason).

        Args:
            reasons: Message key → suppression reason (e.g. `suppressed_stop`).
        """
        if not reasons:
            return 0
        statement = (
            update(messages)
            .where(
                messages.c.message_key == bindparam("k"),
                messages.c.state == LedgerState.PLANNED,
            )
            .values(
                state=LedgerState.REJECTED, error_title=bindparam("title"), finished_at=time.time()
            )
        )
        rows = [{"k": key, "title": reason} for key, reason in reasons.items()]
        with self.engine.begin() as connection:
            return connection.execute(statement, rows).rowcount

    def in_flight_to_unknown(self, campaign_id: str) -> int:
        """A new run starts: what a dead run left `in_flight` may have been sent: `unknown`.

        Messages of chunks under a live lease are left alone: another worker is sending them.
        """
        leased = select(chunks.c.chunk).where(
            chunks.c.campaign_id == campaign_id, chunks.c.lease_until >= time.time()
        )
        with self.engine.begin() as connection:
            result = connection.execute(
                update(messages)
                .where(
                    messages.c.campaign_id == campaign_id,
                    messages.c.state == LedgerState.IN_FLIGHT,
                    messages.c.chunk.not_in(leased),
                )
                .values(state=LedgerState.UNKNOWN)
            )
        return result.rowcount

    def unknown(self, campaign_id: str) -> list[dict[str, Any]]:
        """The campaign's `unknown` messages (key, recipient, sent_at)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(messages.c.message_key, messages.c.recipient, messages.c.sent_at).where(
                    messages.c.campaign_id == campaign_id,
                    messages.c.state == LedgerState.UNKNOWN,
                )
            )
            return [dict(row._mapping) for row in rows]

    def reconcile_unknown(
        self,
        campaign_id: str,
        sightings: Iterable[StatusSighting],
        *,
        landed_until: float | None,
        grace_seconds: float,
        clock_skew_seconds: float = 300.0,
    ) -> dict[str, int]:
        """Settle `unknown` messages from landed status webhooks.

        - A status for the recipient at or after the send (minus clock skew), with a wamid no
          ledger row has, proves the request was accepted: `accepted`, with that wamid.
        - No such status although webhooks are landed past `sent_at + grace_seconds`: the
          request never reached the API (a status would have come), so it is `planned` again.
        - Otherwise it stays `unknown`: never sent twice on a guess.

        Returns:
            Counts of `accepted`, `replanned` and `still_unknown`.
        """
        pending = self.unknown(campaign_id)
        if not pending:
            return {"accepted": 0, "replanned": 0, "still_unknown": 0}
        by_recipient: dict[str, list[StatusSighting]] = {}
        for sighting in sightings:
            by_recipient.setdefault(sighting.recipient, []).append(sighting)
        with self.engine.begin() as connection:
            known = set(
                connection.execute(
                    select(messages.c.wamid).where(messages.c.wamid.is_not(None))
                ).scalars()
            )
            counts = {"accepted": 0, "replanned": 0, "still_unknown": 0}
            for row in pending:
                sent_at = row["sent_at"] or 0.0
                match = next(
                    (
                        s
                        for s in sorted(by_recipient.get(row["recipient"], []), key=lambda s: s.ts)
                        if s.ts >= sent_at - clock_skew_seconds and s.wamid not in known
                    ),
                    None,
                )
                if match is not None:
                    values = {
                        "state": LedgerState.ACCEPTED,
                        "wamid": match.wamid,
                        "reconciled": "status_webhook",
                    }
                    known.add(match.wamid)
                    counts["accepted"] += 1
                elif landed_until is not None and landed_until >= sent_at + grace_seconds:
                    values = {"state": LedgerState.PLANNED, "reconciled": "no_webhook_resent"}
                    counts["replanned"] += 1
                else:
                    counts["still_unknown"] += 1
                    continue
                connection.execute(
                    update(messages)
                    .where(
                        and_(
                            messages.c.message_key == row["message_key"],
                            messages.c.state == LedgerState.UNKNOWN,
                        )
                    )
                    .values(**values)
                )
        if counts["replanned"]:
            self.reopen_chunks(campaign_id)
        return counts

    # -- reading --------------------------------------------------------------------------

    def counts(self, campaign_id: str) -> dict[str, int]:
        """Messages per state."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(messages.c.state, func.count())
                .where(messages.c.campaign_id == campaign_id)
                .group_by(messages.c.state)
            )
            return {state: count for state, count in rows}

    def export(self, campaign_id: str) -> pa.Table:
        """The campaign's ledger as a table with `SENDS_SCHEMA` (for sends.parquet)."""
        columns = [messages.c[field.name] for field in SENDS_SCHEMA]
        with self.engine.connect() as connection:
            rows = [
                dict(row._mapping)
                for row in connection.execute(
                    select(*columns)
                    .where(messages.c.campaign_id == campaign_id)
                    .order_by(messages.c.message_key)
                )
            ]
        for row in rows:
            for name in ("planned_at", "sent_at", "finished_at"):
                if row[name] is not None:
                    row[name] = datetime.fromtimestamp(row[name], tz=UTC)
        return pa.Table.from_pylist(rows, schema=SENDS_SCHEMA)
