"""message_status: the final_status rule and the per-message flags (scenario in conftest.py)."""

from __future__ import annotations

import pytest

from mmapi.analytics import ReportSettings, build_analytics

from .helpers import at, by_key, send, status, table_rows, write_events, write_sends
from .scenario import AS_OF


@pytest.fixture(scope="module")
def messages(built):
    return by_key(table_rows(built, "message_status"), "wamid")


@pytest.fixture(scope="module")
def ledger(built):
    return by_key([r for r in table_rows(built, "message_status") if r["in_ledger"]], "message_key")


def test_message_status_final_status_of_every_message(ledger):
    finals = {key: row["final_status"] for key, row in ledger.items()}

    assert finals == {
        "m1": "read",
        "m2": "read",
        "m3": "delivered",
        "m4": "expired",
        "m5": "sent",
        "m6": "delivered",
        "m7": "unknown",
        "c1": "delivered",
        "c2": "failed",
        "c3": "expired",
        "c4": "read",
        "c5": "rejected",
    }


def test_message_status_out_of_order_and_duplicate_events_collapse(messages):
    m1 = messages["wamid.m1"]

    # Read came first in the file and delivered twice: times come from the events' ts.
    assert (m1["first_event_at"], m1["delivered_at"], m1["read_at"]) == (at(1), at(10), at(30))
    assert m1["webhook_events"] == 4
    assert m1["ever_delivered"]
    assert m1["ever_read"]
    assert not m1["ever_failed"]


def test_message_status_read_without_delivered_counts_as_delivered(messages):
    m2 = messages["wamid.m2"]

    assert m2["final_status"] == "read"
    assert m2["ever_delivered"] is True
    assert m2["delivered_at"] == at(20)  # the read is the first sign of delivery
    assert m2["billable"] is True


def test_message_status_failed_after_delivery_keeps_delivered(messages):
    m3 = messages["wamid.m3"]

    assert m3["final_status"] == "delivered"
    assert m3["failed_after_delivery"] is True
    assert m3["error_code"] == 131026
    assert m3["billable"] is True  # it was delivered, so it was charged
    assert messages["wamid.c2"]["failed_after_delivery"] is False


def test_message_status_ttl_expiry(messages):
    m4, c3, m5 = messages["wamid.m4"], messages["wamid.c3"], messages["wamid.m5"]

    assert m4["expires_at"] == at(hours=12)
    assert (m4["final_status"], m4["expired"]) == ("expired", True)
    # No webhook at all and the TTL passed: expired as well.
    assert (c3["final_status"], c3["has_webhook"]) == ("expired", False)
    # A 48 h TTL has not passed at T0 + 13 h.
    assert (m5["final_status"], m5["expired"]) == ("sent", False)


def test_message_status_before_ttl_nothing_expires(scenario, tmp_path):
    build = build_analytics(
        scenario.sends,
        scenario.events,
        tmp_path,
        settings=ReportSettings(as_of=at(hours=11)),
    )
    finals = by_key(table_rows(build, "message_status"), "wamid")

    assert finals["wamid.m4"]["final_status"] == "sent"
    assert finals["wamid.c3"]["final_status"] == "accepted"


def test_message_status_default_as_of_is_latest_input_time(scenario, tmp_path):
    build = build_analytics(scenario.sends, scenario.events, tmp_path)

    # The last event is m6's delivery at T0 + 2 h; nothing has expired by then.
    assert build.as_of == at(hours=2)
    assert table_rows(build, "report_parameters")[0]["as_of"] == at(hours=2)


def test_message_status_route_from_pricing_category(messages):
    routes = {w: messages[w]["route"] for w in ("wamid.m1", "wamid.m4", "wamid.c4", "wamid.c2")}

    assert routes == {
        "wamid.m1": "mm",
        "wamid.m4": "cloud",  # MM arm, priced marketing: fallback
        "wamid.c4": "mm",  # Cloud arm, priced marketing_lite: contamination
        "wamid.c2": None,  # failed without pricing: route unknown
    }


def test_message_status_unknown_wamids_are_kept(messages, built):
    ghost = messages["wamid.ghost"]

    assert ghost["in_ledger"] is False
    assert ghost["campaign_id"] is None
    assert (ghost["final_status"], ghost["webhook_events"]) == ("delivered", 2)
    assert [r["wamid"] for r in table_rows(built, "unknown_wamids")] == ["wamid.ghost"]


def test_message_status_one_row_per_message(built):
    rows = table_rows(built, "message_status")

    # 12 ledger rows (two without wamid) + 1 unknown wamid.
    assert len(rows) == 13
    wamids = [r["wamid"] for r in rows if r["wamid"]]
    assert len(wamids) == len(set(wamids)) == 11


def test_message_status_as_of_parameter_recorded(built):
    assert built.as_of == AS_OF
    assert table_rows(built, "report_parameters")[0]["as_of"] == AS_OF


def test_message_status_first_failure_and_delivery_category_win(tmp_path):
    sends = [send(key, "mm") for key in ("f1", "f2", "f3", "p1")]
    statuses = [
        # The earliest failure explains it, whatever the arrival order.
        status("wamid.f1", "failed", at(5), code=131050),
        status("wamid.f1", "failed", at(3), code=131049),
        # Two failures at the same time: the lower code, so re-runs agree.
        status("wamid.f2", "failed", at(2), code=131056),
        status("wamid.f2", "failed", at(2), code=131026),
        # A failure without a code does not hide a later one with a code.
        status("wamid.f3", "failed", at(1)),
        status("wamid.f3", "failed", at(4), code=131050),
        # The category billed at delivery wins over the one on `sent`.
        status("wamid.p1", "sent", at(1), category="marketing_lite"),
        status("wamid.p1", "delivered", at(2), category="marketing"),
    ]
    write_sends(tmp_path / "sends.parquet", sends)
    write_events(tmp_path / "landing", "statuses", statuses)

    build = build_analytics(tmp_path / "sends.parquet", tmp_path / "landing", tmp_path / "out")
    rows = by_key(table_rows(build, "message_status"), "wamid")

    assert {w: rows[w]["error_code"] for w in ("wamid.f1", "wamid.f2", "wamid.f3")} == {
        "wamid.f1": 131049,
        "wamid.f2": 131026,
        "wamid.f3": 131050,
    }
    assert rows["wamid.f3"]["error_title"] == "error 131050"
    assert (rows["wamid.p1"]["pricing_category"], rows["wamid.p1"]["route"]) == (
        "marketing",
        "cloud",
    )
