"""funnel, its breakdowns, failure reasons, the delivery curve and reconciliation."""

from __future__ import annotations

import pytest

from .helpers import by_key, table_rows


@pytest.fixture(scope="module")
def funnel(built):
    return by_key(table_rows(built, "funnel"), "arm")


def test_funnel_counts_by_arm(funnel):
    mm, cloud = funnel["mm"], funnel["cloud"]

    assert {k: mm[k] for k in ("ledger_messages", "accepted", "delivered", "read")} == {
        "ledger_messages": 7,
        "accepted": 6,
        "delivered": 4,  # m1 m2 (read without delivered) m3 m6
        "read": 2,
    }
    assert (mm["failed"], mm["failed_after_delivery"], mm["expired"], mm["pending"]) == (
        0,
        1,
        1,
        1,
    )
    assert mm["send_outcome_unknown"] == 1
    assert (cloud["accepted"], cloud["delivered"], cloud["read"]) == (4, 2, 1)
    assert (cloud["failed"], cloud["expired"], cloud["pending"], cloud["rejected"]) == (1, 1, 0, 1)


def test_funnel_rates_and_denominators(funnel):
    mm, cloud = funnel["mm"], funnel["cloud"]

    assert mm["delivery_rate"] == pytest.approx(4 / 6)  # delivered / accepted
    assert mm["read_rate"] == pytest.approx(2 / 4)  # read / delivered
    assert cloud["delivery_rate"] == pytest.approx(2 / 4)
    assert cloud["read_rate"] == pytest.approx(1 / 2)


def test_funnel_routes_taken(funnel):
    assert (funnel["mm"]["routed_mm"], funnel["mm"]["routed_cloud"]) == (5, 1)
    assert (funnel["cloud"]["routed_mm"], funnel["cloud"]["routed_cloud"]) == (1, 1)


def test_funnel_click_without_arm_counted_on_campaign(funnel):
    # Both arms had MM-routed messages, so the one click cannot be given an arm.
    assert (funnel["mm"]["clicks"], funnel["mm"]["clicks_arm_unknown"]) == (0, 1)
    assert (funnel["cloud"]["clicks"], funnel["cloud"]["clicks_arm_unknown"]) == (0, 1)
    assert funnel["mm"]["click_rate"] == 0.0  # a lower bound: 0 of 4 attributed to the arm


def test_funnel_by_country(built):
    rows = by_key(table_rows(built, "funnel_by_country"), "arm", "country")

    assert set(rows) == {("mm", "AR"), ("mm", "BR"), ("cloud", "AR")}
    ar, br = rows[("mm", "AR")], rows[("mm", "BR")]
    assert (ar["accepted"], ar["delivered"], ar["read"], ar["expired"]) == (4, 3, 2, 1)
    assert (br["accepted"], br["delivered"], br["pending"]) == (2, 1, 1)
    # Two countries in the arm: clicks cannot be split by country.
    assert ar["clicks"] is None
    assert ar["click_rate"] is None


def test_funnel_by_template_single_template_gets_arm_clicks(built):
    rows = by_key(table_rows(built, "funnel_by_template"), "arm", "template_name")

    mm = rows[("mm", "spring_sale")]
    assert (mm["accepted"], mm["delivered"], mm["read"]) == (6, 4, 2)
    assert mm["clicks"] == 0  # one template in the arm: its clicks are the arm's


def test_failure_reasons(built):
    rows = by_key(table_rows(built, "failure_reasons"), "arm", "error_code")

    assert set(rows) == {("mm", 131026), ("cloud", 131049)}
    assert (rows[("mm", 131026)]["failed"], rows[("mm", 131026)]["failed_after_delivery"]) == (
        0,
        1,
    )
    assert rows[("cloud", 131049)]["failed"] == 1
    assert rows[("cloud", 131049)]["share_of_accepted"] == pytest.approx(1 / 4)


def test_delivery_curve_cumulative_by_hour(built):
    curve = by_key(table_rows(built, "delivery_curve"), "arm", "hour")

    assert len(curve) == 2 * 169  # hours 0..168 per arm
    # mm: m1 (10 min), m2 (read at 20 min), m3 (5 min) within the 1st hour, m6 at 2 h.
    assert [curve[("mm", h)]["delivered"] for h in (0, 1, 2, 3)] == [0, 3, 4, 4]
    assert [curve[("mm", h)]["read"] for h in (0, 1, 168)] == [0, 2, 2]
    assert curve[("mm", 2)]["delivered_share"] == pytest.approx(4 / 6)
    assert curve[("cloud", 1)]["read_share"] == pytest.approx(1 / 4)


def test_reconciliation_balances_and_counts_unknown_wamids(built):
    rows = table_rows(built, "reconciliation")
    campaign, unknown = rows

    assert campaign["campaign_id"] == "c1"
    assert (campaign["accepted"], campaign["delivered"], campaign["failed"]) == (10, 6, 1)
    assert (campaign["expired"], campaign["pending"], campaign["balanced"]) == (2, 1, True)
    # c3 has no webhook; sent at T0, overdue after 24 h only, so not yet at T0 + 13 h.
    assert (campaign["without_webhook"], campaign["no_webhook_overdue"]) == (1, 0)
    assert (campaign["rejected"], campaign["send_outcome_unknown"]) == (1, 1)
    assert campaign["webhook_events"] == 18
    assert unknown["campaign_id"] is None
    assert (unknown["unknown_wamids"], unknown["webhook_events"]) == (1, 2)


def test_missing_webhooks_after_threshold(scenario, tmp_path):
    from mmapi.analytics import ReportSettings, build_analytics

    from .scenario import AS_OF

    build = build_analytics(
        scenario.sends,
        scenario.events,
        tmp_path,
        settings=ReportSettings(as_of=AS_OF, no_webhook_after_hours=12),
    )
    missing = table_rows(build, "missing_webhooks")

    assert [(r["message_key"], r["expired"]) for r in missing] == [("c3", True)]
    assert missing[0]["hours_since_send"] == pytest.approx(13.0)
    assert table_rows(build, "reconciliation")[0]["no_webhook_overdue"] == 1
