"""Costs, rate-card gaps, max-price caps, fallback and contamination, and MM versus Cloud."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from mmapi.analytics import ReportSettings, build_analytics

from .helpers import T0, at, by_key, send, status, table_rows, view_rows, write_events, write_sends
from .scenario import AS_OF

CARD_HEADER = (
    "country,pricing_category,currency,price,valid_from,source,is_example,template_name,"
    "cap_per_1000\n"
)
INVOICE_CARD = CARD_HEADER + (
    "AR,marketing,USD,0.06,2025-01-01,invoice,false,,\n"
    "AR,marketing_lite,USD,0.05,2025-01-01,invoice,false,,\n"
    "BR,marketing_lite,USD,0.04,2025-01-01,invoice,false,,\n"
    "BR,marketing_lite,USD,0.07,2025-09-01T13:00:00,invoice,false,,\n"
)


def test_cost_by_arm_with_example_card_reports_rate_gap(built):
    arms = by_key(table_rows(built, "cost_by_arm"), "arm")
    mm, cloud = arms["mm"], arms["cloud"]

    # mm: m1 m2 m3 (AR, 0.0618 each) priced; m6 (BR) has no rate.
    assert (mm["billable"], mm["priced"], mm["unpriced"]) == (4, 3, 1)
    assert mm["cost"] == Decimal("0.1854")
    assert mm["cost_complete"] is False
    assert mm["cost_per_delivered"] is None
    assert mm["cost_per_read"] is None
    # cloud: c1 (marketing) and c4 (marketing_lite), both AR.
    assert (cloud["billable"], cloud["priced"], cloud["cost"]) == (2, 2, Decimal("0.1236"))
    assert cloud["cost_per_delivered"] == pytest.approx(0.0618)
    assert cloud["cost_per_read"] == pytest.approx(0.1236)
    assert mm["cost_is_estimate"]
    assert cloud["cost_is_estimate"]


def test_rate_gaps_never_priced_at_zero(built):
    gaps = table_rows(built, "rate_gaps")
    costs = by_key(view_rows(built, "message_cost"), "wamid")

    assert [
        (g["campaign_id"], g["arm"], g["country"], g["unpriced_reason"], g["messages"])
        for g in gaps
    ] == [("c1", "mm", "BR", "no_rate", 1), (None, None, None, "no_country", 1)]
    assert costs["wamid.m6"]["price"] is None
    assert costs["wamid.ghost"]["price"] is None
    assert len(costs) == 7  # billable: m1 m2 m3 m6 c1 c4 ghost


def test_fallback_and_contamination(built):
    comparison = table_rows(built, "cost_comparison")[0]
    arms = by_key(table_rows(built, "cost_by_arm"), "arm")

    assert comparison["fallback_rate_mm"] == pytest.approx(1 / 6)  # m4 priced marketing
    assert comparison["contamination_rate_cloud"] == pytest.approx(1 / 2)  # c4 of c1, c4
    assert arms["mm"]["other_route_share"] == pytest.approx(1 / 6)


def test_cost_comparison_small_arms_inconclusive(built):
    row = table_rows(built, "cost_comparison")[0]

    assert row["comparison_basis"] == "assigned arm (intention to treat)"
    assert row["arms_large_enough"] is False
    assert row["delivery_verdict"] == "inconclusive"
    assert row["delivery_lift"] is None
    assert row["delivery_relative_lift"] is None
    # The interval is still reported: 4/6 - 2/4 = 1/6 ± 1.96 * sqrt(2/9/6 + 1/4/4).
    assert row["delivery_lift_ci_low"] == pytest.approx(0.166667 - 0.618359, abs=1e-5)
    assert row["delivery_lift_ci_high"] == pytest.approx(0.166667 + 0.618359, abs=1e-5)
    assert row["cost_complete"] is False
    assert row["cost_per_incremental_delivered"] is None


def test_cost_with_user_rate_card_uses_rate_in_force(scenario, tmp_path):
    card = tmp_path / "card.csv"
    card.write_text(INVOICE_CARD)
    build = build_analytics(
        scenario.sends,
        scenario.events,
        tmp_path / "out",
        rate_card=card,
        settings=ReportSettings(as_of=AS_OF),
    )
    arms = by_key(table_rows(build, "cost_by_arm"), "arm")
    costs = by_key(view_rows(build, "message_cost"), "wamid")

    # m6 was delivered at T0 + 2 h = 14:00, after the BR change at 13:00.
    assert costs["wamid.m6"]["price"] == Decimal("0.07")
    assert arms["mm"]["cost"] == Decimal("0.22")  # 3 x 0.05 + 0.07
    assert arms["mm"]["cost_per_delivered"] == pytest.approx(0.055)
    assert arms["mm"]["cost_per_read"] == pytest.approx(0.11)
    assert arms["cloud"]["cost"] == Decimal("0.11")  # 0.06 + 0.05
    assert not arms["mm"]["cost_is_estimate"]
    assert arms["mm"]["cost_complete"]
    assert [g["unpriced_reason"] for g in table_rows(build, "rate_gaps")] == ["no_country"]


def test_cost_max_price_cap_is_an_upper_bound(scenario, tmp_path):
    card = tmp_path / "card.csv"
    card.write_text(INVOICE_CARD + ",marketing_lite,USD,,2025-01-01,bid,false,spring_sale,40\n")
    build = build_analytics(
        scenario.sends,
        scenario.events,
        tmp_path / "out",
        rate_card=card,
        settings=ReportSettings(as_of=AS_OF),
    )
    arms = by_key(table_rows(build, "cost_by_arm"), "arm")
    m1 = by_key(view_rows(build, "message_cost"), "wamid")["wamid.m1"]

    assert (m1["price"], m1["price_basis"], m1["price_is_upper_bound"]) == (
        Decimal("0.04"),
        "max_price_cap",
        True,
    )
    assert (arms["mm"]["cost"], arms["mm"]["capped"]) == (Decimal("0.16"), 4)
    assert arms["cloud"]["cost"] == Decimal("0.10")  # c4 capped 0.04 + c1 marketing 0.06
    assert arms["mm"]["cost_is_estimate"] is True


def test_free_pricing_type_is_not_billable(tmp_path):
    write_sends(tmp_path / "sends.parquet", [send("f1", "mm"), send("f2", "mm")])
    write_events(
        tmp_path / "landing",
        "statuses",
        [
            status(
                "wamid.f1",
                "delivered",
                at(5),
                category="marketing_lite",
                pricing_type="free_entry_point",
            ),
            status("wamid.f2", "delivered", at(5), category="marketing_lite"),
        ],
    )
    build = build_analytics(tmp_path / "sends.parquet", tmp_path / "landing", tmp_path / "out")
    billable = {r["wamid"]: r["billable"] for r in table_rows(build, "message_status")}

    assert billable == {"wamid.f1": False, "wamid.f2": True}


def _big_campaign(root):
    """200k per arm: MM delivers 92%, Cloud 86%; each reads half of its deliveries."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    arms = con.sql(
        """
        SELECT
            'k' || i AS message_key, 'big' AS campaign_id, '54911' || i AS recipient,
            'AR' AS country, CASE WHEN i < 200000 THEN 'mm' ELSE 'cloud' END AS arm,
            'spring_sale' AS template_name, 'en' AS language, 'accepted' AS state,
            'wamid.' || i AS wamid, 43200 AS ttl_seconds, $t0::TIMESTAMPTZ AS sent_at,
            i % 100 < CASE WHEN i < 200000 THEN 92 ELSE 86 END AS delivered,
            i % 100 < CASE WHEN i < 200000 THEN 46 ELSE 43 END AS read
        FROM range(400000) AS r(i)
        """,
        params={"t0": T0},
    )
    arms.write_parquet(str(root / "sends.parquet"))
    folder = root / "landing" / "events" / "statuses" / "dt=2025-09-01"
    folder.mkdir(parents=True)
    con.sql(
        """
        SELECT wamid, s.status, sent_at + INTERVAL 5 MINUTE AS ts,
            CASE WHEN arm = 'mm' THEN 'marketing_lite' ELSE 'marketing' END AS pricing_category,
            TRUE AS pricing_billable, 'regular' AS pricing_type, 'P1' AS phone_number_id
        FROM read_parquet($path)
        JOIN (VALUES ('delivered'), ('read')) AS s(status)
            ON (s.status = 'delivered' AND delivered) OR (s.status = 'read' AND read)
        """,
        params={"path": str(root / "sends.parquet")},
    ).write_parquet(str(folder / "part-0.parquet"))
    con.close()


def test_cost_comparison_large_arms_quote_lift(tmp_path):
    _big_campaign(tmp_path)
    build = build_analytics(
        tmp_path / "sends.parquet",
        tmp_path / "landing",
        tmp_path / "out",
        settings=ReportSettings(as_of=at(hours=1)),
    )
    row = table_rows(build, "cost_comparison")[0]

    assert row["arms_large_enough"] is True
    assert row["delivery_verdict"] == "higher"
    assert row["delivery_lift"] == pytest.approx(0.06)
    # 0.06 ± 1.959964 * sqrt(.92*.08/2e5 + .86*.14/2e5) = 0.06 ± 0.0019303
    assert row["delivery_lift_ci_low"] == pytest.approx(0.0580697, abs=1e-6)
    assert row["delivery_lift_ci_high"] == pytest.approx(0.0619303, abs=1e-6)
    assert row["delivery_relative_lift"] == pytest.approx(0.06 / 0.86)
    assert (row["read_verdict"], row["read_lift"]) == ("no_significant_difference", 0.0)
    assert row["reach_verdict"] == "higher"
    # 184,000 x 0.0618 against 172,000 x 0.0618 (equal arms).
    assert (row["cost_mm"], row["cost_cloud"]) == (Decimal("11371.2"), Decimal("10629.6"))
    assert row["incremental_delivered"] == pytest.approx(12000)
    assert row["incremental_cost"] == pytest.approx(741.6)
    assert row["cost_per_incremental_delivered"] == pytest.approx(0.0618)
    assert row["cost_per_incremental_read"] == pytest.approx(0.1236)  # 741.6 / 6,000
