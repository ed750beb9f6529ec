"""The send ledger on SQLite and on the Postgres server of this machine."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pyarrow as pa
import pytest
import sqlalchemy

from mmapi.errors import ConfigurationError
from mmapi.ledger import ClaimedChunk, Ledger, LedgerState, StatusSighting, check_ledger_url
from mmapi.schemas import SENDS_SCHEMA
from mmapi.sender import OutcomeState, SendOutcome

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _plan(campaign_id: str, count: int) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "message_key": f"{campaign_id}-{i:05d}",
                "campaign_id": campaign_id,
                "recipient": f"4915100{i:06d}",
                "country": "DE",
                "arm": "mm" if i % 10 else "cloud",
                "template_name": "spring_sale",
                "language": "en",
            }
            for i in range(count)
        ]
    )


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path) -> Iterator[Ledger]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    else:
        # Each test gets its own database, so parallel runs and leftovers don't interfere.
        name = f"ledger_{uuid.uuid4().hex[:12]}"
        admin = sqlalchemy.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:  # fails loudly when Postgres is missing
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    ledger = Ledger(url)
    yield ledger
    ledger.dispose()
    if request.param == "postgres":
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


def _drop_tables(url: str) -> None:
    engine = sqlalchemy.create_engine(url)
    metadata = sqlalchemy.MetaData()
    metadata.reflect(engine)
    metadata.drop_all(engine)
    engine.dispose()


def _outcome(key: str, state: OutcomeState, **fields) -> SendOutcome:
    return SendOutcome(key=key, state=state, attempts=1, finished_at=time.time(), **fields)


def test_plan_is_idempotent_and_chunked(ledger: Ledger):
    assert ledger.plan(_plan("c1", 25), chunk_size=10, ttl_seconds=86400) == 25
    assert ledger.plan(_plan("c1", 25), chunk_size=10, ttl_seconds=86400) == 0
    assert ledger.counts("c1") == {LedgerState.PLANNED: 25}
    assert ledger.planned_keys("c1", 2) == [f"c1-{i:05d}" for i in range(20, 25)]


def test_workers_planning_the_same_campaign_at_once_plan_each_message_once(ledger: Ledger):
    # Several workers start one campaign together: each plans it; none may fail or double it.
    # The `ledger` fixture only names the database here: the workers create the tables.
    url = ledger.engine.url.render_as_string(hide_password=False)
    ledger.dispose()
    _drop_tables(url)
    plan = _plan("c1", 3000)
    start = threading.Barrier(3)
    new: list[int] = []

    def worker() -> None:
        start.wait()
        worker_ledger = Ledger(url)
        new.append(worker_ledger.plan(plan, chunk_size=500, ttl_seconds=None))
        worker_ledger.dispose()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(new) == [0, 0, 3000]
    assert ledger.counts("c1") == {LedgerState.PLANNED: 3000}


def test_mark_in_flight_moves_only_planned(ledger: Ledger):
    ledger.plan(_plan("c1", 5), chunk_size=10, ttl_seconds=None)
    assert ledger.mark_in_flight(["c1-00000", "c1-00001"]) == {"c1-00000", "c1-00001"}
    assert ledger.mark_in_flight(["c1-00000", "c1-00002"]) == {"c1-00002"}
    assert ledger.counts("c1") == {LedgerState.PLANNED: 2, LedgerState.IN_FLIGHT: 3}


def test_concurrent_claims_never_give_a_message_twice(ledger: Ledger):
    ledger.plan(_plan("c1", 400), chunk_size=1000, ttl_seconds=None)
    keys = [f"c1-{i:05d}" for i in range(400)]
    won: list[set[str]] = [set(), set(), set()]

    def worker(slot: int) -> None:
        for start in range(0, len(keys), 20):
            won[slot] |= ledger.mark_in_flight(keys[start : start + 20])

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(w) for w in won) == 400
    assert set().union(*won) == set(keys)


def test_outcomes_set_final_states_and_deferred_goes_back(ledger: Ledger):
    ledger.plan(_plan("c1", 4), chunk_size=10, ttl_seconds=None)
    ledger.mark_in_flight([f"c1-{i:05d}" for i in range(4)])
    ledger.record_outcomes(
        [
            _outcome("c1-00000", OutcomeState.ACCEPTED, wamid="wamid.A", message_status="accepted"),
            _outcome("c1-00001", OutcomeState.REJECTED, error_code=132000, error_title="count"),
            _outcome("c1-00002", OutcomeState.DEFERRED, error_code=131056),
            _outcome("c1-00003", OutcomeState.UNKNOWN, error_title="dropped"),
        ]
    )
    assert ledger.counts("c1") == {
        LedgerState.ACCEPTED: 1,
        LedgerState.REJECTED: 1,
        LedgerState.PLANNED: 1,
        LedgerState.UNKNOWN: 1,
    }
    # An outcome for a row no longer in flight changes nothing.
    ledger.record_outcomes([_outcome("c1-00000", OutcomeState.REJECTED, error_code=100)])
    exported = ledger.export("c1")
    assert exported.schema == SENDS_SCHEMA
    first = exported.to_pylist()[0]
    assert (first["state"], first["wamid"], first["attempts"]) == ("accepted", "wamid.A", 1)
    assert first["sent_at"] is not None
    assert first["sent_at"].tzinfo is not None


def test_chunk_leases_expire_and_are_taken_over(ledger: Ledger):
    ledger.plan(_plan("c1", 30), chunk_size=10, ttl_seconds=None)
    assert ledger.claim_chunk("c1", "worker-a", lease_seconds=60) == ClaimedChunk(0)
    assert ledger.claim_chunk("c1", "worker-b", lease_seconds=0.2) == ClaimedChunk(1)
    assert ledger.claim_chunk("c1", "worker-b", lease_seconds=60) == ClaimedChunk(2)
    assert ledger.claim_chunk("c1", "worker-c", lease_seconds=60) is None
    time.sleep(0.3)
    # worker-b died holding chunk 1: after its lease, someone else takes it.
    assert ledger.claim_chunk("c1", "worker-c", lease_seconds=60) == ClaimedChunk(
        1, taken_from="worker-b"
    )
    ledger.finish_chunk("c1", 0, done=True)
    ledger.finish_chunk("c1", 2, done=False)
    assert ledger.claim_chunk("c1", "worker-a", lease_seconds=60) == ClaimedChunk(2)


def test_released_leases_of_dead_owners_are_claimable_at_once(ledger: Ledger):
    ledger.plan(_plan("c1", 20), chunk_size=10, ttl_seconds=None)
    assert ledger.claim_chunk("c1", "host-111-dead", lease_seconds=600) == ClaimedChunk(0)
    assert ledger.claim_chunk("c1", "host-222-alive", lease_seconds=600) == ClaimedChunk(1)
    assert ledger.claim_chunk("c1", "host-333-new", lease_seconds=600) is None
    assert ledger.lease_owners("c1") == {"host-111-dead", "host-222-alive"}
    assert ledger.release_leases("c1", ["host-111-dead"]) == 1
    assert ledger.claim_chunk("c1", "host-333-new", lease_seconds=600) == ClaimedChunk(0)


def test_a_new_run_leaves_the_in_flight_messages_of_live_workers_alone(ledger: Ledger):
    ledger.plan(_plan("c1", 20), chunk_size=10, ttl_seconds=None)
    assert ledger.claim_chunk("c1", "host-222-alive", lease_seconds=600) == ClaimedChunk(0)
    ledger.mark_in_flight(["c1-00000", "c1-00001"])  # chunk 0, being sent right now
    ledger.mark_in_flight(["c1-00010"])  # chunk 1: no lease, so its sender is gone
    assert ledger.in_flight_to_unknown("c1") == 1
    assert ledger.counts("c1") == {"planned": 17, "in_flight": 2, "unknown": 1}


def test_taking_over_a_chunk_puts_its_orphaned_in_flight_messages_in_doubt(ledger: Ledger):
    ledger.plan(_plan("c1", 10), chunk_size=10, ttl_seconds=None)
    assert ledger.claim_chunk("c1", "host-111-dies", lease_seconds=0.2) == ClaimedChunk(0)
    ledger.mark_in_flight(["c1-00000", "c1-00001"])
    time.sleep(0.3)
    assert ledger.claim_chunk("c1", "host-222-takes-over", lease_seconds=600) == ClaimedChunk(
        0, in_doubt=2, taken_from="host-111-dies"
    )
    assert ledger.counts("c1") == {"planned": 8, "unknown": 2}
    assert ledger.planned_keys("c1", 0) == [f"c1-{i:05d}" for i in range(2, 10)]


def test_heartbeats_keep_a_live_workers_chunks_and_a_silent_ones_come_free(ledger: Ledger):
    ledger.plan(_plan("c1", 30), chunk_size=10, ttl_seconds=None)
    assert ledger.claim_chunk("c1", "worker-live", lease_seconds=0.3) == ClaimedChunk(0)
    assert ledger.claim_chunk("c1", "worker-dies", lease_seconds=0.3) == ClaimedChunk(1)
    ledger.finish_chunk("c1", 2, done=True)
    assert ledger.chunks_left("c1") == (2, 0)
    for _ in range(3):  # past the claim's lease; only worker-live keeps beating
        time.sleep(0.15)
        ledger.heartbeat(
            "c1", "worker-live", assumed_workers=2, timeout_seconds=5, lease_seconds=0.3
        )

    assert ledger.chunks_left("c1") == (2, 1)
    assert ledger.claim_chunk("c1", "worker-new", lease_seconds=60) == ClaimedChunk(
        1, taken_from="worker-dies"
    )
    assert ledger.claim_chunk("c1", "worker-new", lease_seconds=60) is None


def test_live_workers_counts_recent_heartbeats_of_the_campaign(ledger: Ledger):
    for owner in ("a", "b"):
        ledger.heartbeat("c1", owner, assumed_workers=2, timeout_seconds=5)
    ledger.heartbeat("c2", "x", assumed_workers=1, timeout_seconds=5)
    assert ledger.live_workers("c1", timeout_seconds=5) == 2
    ledger.leave("c1", "a")
    assert ledger.live_workers("c1", timeout_seconds=5) == 1
    time.sleep(0.2)
    assert ledger.live_workers("c1", timeout_seconds=0.1) == 0


def test_heartbeats_list_the_live_workers_of_a_campaign(ledger: Ledger):
    def beat(campaign_id: str, owner: str, assumed: int = 1) -> dict[str, int]:
        return ledger.heartbeat(campaign_id, owner, assumed_workers=assumed, timeout_seconds=0.5)

    assert beat("c1", "host-1-a") == {"host-1-a": 1}
    assert beat("c1", "host-2-b", 2) == {"host-1-a": 1, "host-2-b": 2}
    assert beat("c2", "host-3-c") == {"host-3-c": 1}
    assert beat("c1", "host-1-a", 2) == {"host-1-a": 2, "host-2-b": 2}
    time.sleep(0.6)  # host-1-a stops beating
    assert beat("c1", "host-2-b", 2) == {"host-2-b": 2}
    assert beat("c1", "host-1-a", 2) == {"host-1-a": 2, "host-2-b": 2}  # back again
    ledger.leave("c1", "host-1-a")
    assert beat("c1", "host-2-b") == {"host-2-b": 1}


def test_reconcile_unknown_by_status_webhooks(ledger: Ledger):
    ledger.plan(_plan("c1", 3), chunk_size=10, ttl_seconds=None)
    keys = [f"c1-{i:05d}" for i in range(3)]
    ledger.mark_in_flight(keys)
    assert ledger.in_flight_to_unknown("c1") == 3
    sent_at = time.time()
    sightings = [
        StatusSighting(recipient="4915100000000", wamid="wamid.seen", ts=sent_at + 5),
        # A status from long before this send belongs to another message.
        StatusSighting(recipient="4915100000001", wamid="wamid.old", ts=sent_at - 86_400),
    ]
    too_early = ledger.reconcile_unknown(
        "c1", sightings, landed_until=sent_at + 10, grace_seconds=600
    )
    assert too_early == {"accepted": 1, "replanned": 0, "still_unknown": 2}
    later = ledger.reconcile_unknown("c1", [], landed_until=sent_at + 3600, grace_seconds=600)
    assert later == {"accepted": 0, "replanned": 2, "still_unknown": 0}
    rows = {row["message_key"]: row for row in ledger.export("c1").to_pylist()}
    assert rows["c1-00000"]["state"] == "accepted"
    assert rows["c1-00000"]["wamid"] == "wamid.seen"
    assert rows["c1-00001"]["state"] == rows["c1-00002"]["state"] == "planned"


def test_repr_hides_the_database_password():
    # Trust auth accepts any password, so a real connection carries one here.
    ledger = Ledger("postgresql+psycopg://postgres:Sup3rSecretPw@127.0.0.1:5432/test")
    try:
        assert "Sup3rSecretPw" not in repr(ledger)
        assert "***" in repr(ledger)
    finally:
        ledger.dispose()


def test_a_ledger_url_with_a_password_is_refused_without_showing_it():
    check_ledger_url("postgresql+psycopg://sender@127.0.0.1:5432/ledger")
    check_ledger_url("sqlite:///ledger.sqlite")
    with pytest.raises(ConfigurationError, match="PGPASSWORD") as caught:
        check_ledger_url("postgresql+psycopg://sender:Ledger-Pw-0123@127.0.0.1:5432/ledger")
    assert "Ledger-Pw-0123" not in str(caught.value)
    assert "sender:***@" in str(caught.value)
