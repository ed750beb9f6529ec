"""Click and stop/resume attribution, with hand-worked expectations.

Three campaigns, each MM arm routed over MM (priced marketing_lite), Cloud arms over Cloud:
c1 from number P1 sent at T0, c2 from P2 at T0 + 1 d, c3 from P1 at T0 + 3 d. With the 7-day
window, P1 clicks between T0 + 3 d and T0 + 7 d fit both c1 and c3.
"""

from __future__ import annotations

import pytest

from mmapi.analytics import ReportSettings, build_analytics

from .helpers import (
    at,
    by_key,
    click,
    preference,
    send,
    status,
    table_rows,
    write_events,
    write_sends,
)

LITE = "marketing_lite"


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    root = tmp_path_factory.mktemp("attribution")
    sends = [
        send("a1", "mm", campaign="c1", recipient="111"),
        send("a2", "mm", campaign="c1", recipient="222"),
        send("a3", "mm", campaign="c1", recipient="333"),
        send("a4", "mm", campaign="c1", recipient="444"),
        send("a5", "cloud", campaign="c1", recipient="555"),
        send("b1", "mm", campaign="c2", sent_at=at(days=1)),
        send("d1", "mm", campaign="c3", sent_at=at(days=3)),
    ]
    sent = [
        status(f"wamid.{key}", "sent", at(1, days=day), category=LITE, phone=phone)
        for key, day, phone in (
            ("a1", 0, "P1"),
            ("a2", 0, "P1"),
            ("a3", 0, "P1"),
            ("a4", 0, "P1"),
            ("b1", 1, "P2"),
            ("d1", 3, "P1"),
        )
    ]
    statuses = [
        *sent,
        status("wamid.a1", "read", at(30), category=LITE),
        status("wamid.a2", "read", at(30), category=LITE),
        status("wamid.a3", "read", at(30), category=LITE),
        status("wamid.a4", "read", at(30), category=LITE),
        status("wamid.a5", "delivered", at(30), category="marketing"),
        status("wamid.b1", "read", at(30, days=1), category=LITE, phone="P2"),
        status("wamid.d1", "read", at(30, days=3), category=LITE),
    ]
    clicks = [
        click("k-a", at(60)),  # P1, only c1 open: c1, arm mm
        click("k-a", at(60)),  # the same click delivered twice
        click("k-b", at(60, days=1), phone="P2", click_component="CTA"),  # c2
        click("k-c", at(days=4)),  # P1: c1 (until T0 + 7 d) and c3 both open
        click("k-d", at(days=12)),  # P1: c3 closed at T0 + 10 d
        click("k-e", at(60), phone="P9"),  # a number no campaign sent from
        click("k-f", at(61), action_type="landing_page_view"),  # not a link click
    ]
    preferences = [
        preference("111", "stop", at(hours=1)),  # stays stopped
        preference("222", "stop", at(hours=1)),
        preference("222", "resume", at(days=2)),  # resumed later
        preference("333", "stop", at(hours=1)),
        preference("333", "stop", at(hours=1)),  # duplicate
        preference("444", "stop", at(days=9)),  # 9 days after the send: not attributed
        preference("999", "stop", at(hours=1)),  # in no ledger
    ]
    write_sends(root / "sends.parquet", sends)
    events = root / "landing"
    write_events(events, "statuses", statuses)
    write_events(events, "clicks", clicks)
    write_events(events, "preferences", preferences)
    return build_analytics(
        root / "sends.parquet", events, root / "out", settings=ReportSettings(as_of=at(days=13))
    )


def test_click_attribution_outcomes(build):
    clicks = by_key(table_rows(build, "click_attribution"), "click_id")

    assert set(clicks) == {"k-a", "k-b", "k-c", "k-d", "k-e"}  # k-f is not a link click
    outcome = {k: (r["attribution"], r["campaign_id"], r["arm"]) for k, r in clicks.items()}
    assert outcome == {
        "k-a": ("arm", "c1", "mm"),
        "k-b": ("arm", "c2", "mm"),
        "k-c": ("ambiguous", None, None),
        "k-d": ("unattributed", None, None),
        "k-e": ("unattributed", None, None),
    }
    assert clicks["k-c"]["candidate_campaigns"] == 2
    assert clicks["k-a"]["webhook_events"] == 2
    assert clicks["k-b"]["click_component"] == "cta"


def test_click_counts_in_funnel(build):
    funnel = by_key(table_rows(build, "funnel"), "campaign_id", "arm")

    assert funnel[("c1", "mm")]["clicks"] == 1
    assert funnel[("c1", "mm")]["click_rate"] == pytest.approx(1 / 4)  # clicks / delivered
    assert funnel[("c2", "mm")]["clicks"] == 1
    assert funnel[("c3", "mm")]["clicks"] == 0  # its only click was ambiguous
    # The Cloud route reports no clicks: not measurable, not 0.
    assert funnel[("c1", "cloud")]["click_rate"] is None


def test_stop_resume_attribution(build):
    rows = table_rows(build, "preference_attribution")
    attributed = {(r["wa_id"], r["value"]): r["campaign_id"] for r in rows}

    assert len(rows) == 6  # the duplicate stop of 333 collapses
    assert attributed == {
        ("111", "stop"): "c1",
        ("222", "stop"): "c1",
        ("222", "resume"): "c1",
        ("333", "stop"): "c1",
        ("444", "stop"): None,
        ("999", "stop"): None,
    }
    resumed = {r["wa_id"]: r["resumed_later"] for r in rows if r["value"] == "stop"}
    assert resumed == {"111": False, "222": True, "333": False, "444": False, "999": False}


def test_stop_counts_in_funnel(build):
    mm = by_key(table_rows(build, "funnel"), "campaign_id", "arm")[("c1", "mm")]

    assert (mm["stopped"], mm["still_stopped"]) == (3, 2)
    assert mm["stop_rate"] == pytest.approx(3 / 4)


def test_attribution_window_setting(build, tmp_path):
    # With a 1-day window c1 closes at T0 + 1 d, c3 at T0 + 4 d (inclusive): k-c is c3's.
    sends_path = build.files.sends[0]
    events = sends_path.parent / "landing"
    narrow = build_analytics(
        sends_path,
        events,
        tmp_path,
        settings=ReportSettings(as_of=at(days=13), attribution_days=1),
    )
    clicks = by_key(table_rows(narrow, "click_attribution"), "click_id")

    assert (clicks["k-c"]["attribution"], clicks["k-c"]["campaign_id"]) == ("arm", "c3")
    assert clicks["k-a"]["attribution"] == "arm"
    assert clicks["k-d"]["attribution"] == "unattributed"
