"""Prepare end to end: a segment with every kind of bad row, arms, suppression, contracts."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmapi.audience import (
    arm_of,
    extract_segment,
    message_key,
    prepare_plan,
)
from mmapi.errors import SpecError, TemplateMismatchError
from mmapi.models import Component
from mmapi.schemas import PLAN_SCHEMA, REJECTS_SCHEMA

from .test_suppression import write_preferences, write_statuses

GOOD = {"first_name": "Ana", "image_url": "https://shop.example.com/a.jpg", "coupon": "SPRING-1"}
HUGE = "4" * 10_000_000
# (phone, country, overrides of the template columns, expected reason or None, bad column)
ROWS = [
    ("+49 151 00000001", "DE", {}, None, None),
    (None, "DE", {}, "empty", "phone"),
    ("", "DE", {}, "empty", "phone"),
    ("   ", "DE", {}, "empty", "phone"),
    ("call me", "DE", {}, "invalid_characters", "phone"),
    ("+49 151 2345678x", "DE", {}, "invalid_characters", "phone"),
    ("tel:+49-151-00000009", "DE", {}, "invalid_characters", "phone"),
    ("+49 1٥1 23456789", "DE", {}, "invalid_characters", "phone"),  # mixed digit scripts
    ("12345", "DE", {}, "invalid_number", "phone"),  # too short
    ("+49 151 2345 6789 0123 4567", "DE", {}, "invalid_number", "phone"),  # too many digits
    ("+999 1234 5678", "DE", {}, "invalid_number", "phone"),  # no such country code
    ("(11) 98765-4321", None, {}, "invalid_number", "phone"),  # Brazilian read as German
    ("0000000000", "DE", {}, "invalid_number", "phone"),
    ("+49 151 234²", "DE", {}, "invalid_number", "phone"),  # a superscript is no digit
    (HUGE, "DE", {}, "too_long", "phone"),  # a 10 MB string
    ("+49 151 00000002", "DE", {}, None, None),
    ("0151 00000002", "DE", {}, "duplicate", "phone"),  # the same number, three ways
    ("0049 151 00000002", "DE", {}, "duplicate", "phone"),
    ("+49 151 00000003", "DE", {"first_name": None}, "param_null", "first_name"),
    ("+49 151 00000004", "DE", {"first_name": "  "}, "param_empty", "first_name"),
    ("+49 151 00000005", "DE", {"first_name": "Ana\nMaria"}, "param_bad_text", "first_name"),
    ("+49 151 00000006", "DE", {"first_name": "X" * 2000}, "param_too_long", "first_name"),
    ("+49 151 00000007", "DE", {"image_url": "ftp://x/a.jpg"}, "param_bad_url", "image_url"),
    ("+49 151 00000008", "DE", {"coupon": None}, "param_null", "coupon"),
    ("+49 151 00000010", "DE", {"coupon": "SPRING 10"}, "param_bad_text", "coupon"),
    ("+49 151 00000011", "DE", {}, "suppressed_stop", "phone"),
    ("+49 151 00000012", "DE", {}, "suppressed_131050", "phone"),
    ("+49 151 00000013", "DE", {}, "suppressed_list", "phone"),
    ("+49 151 00000014", "DE", {}, "suppressed_131049", "phone"),
    ("+९१ ९८७६५ ४३२१०", "IN", {}, None, None),  # Devanagari digits: a valid number
    ("٠١٥١ ٠٠٠٠٠٠١٥", "DE", {}, None, None),  # Arabic-Indic digits, national
    ("📞 +49 151 00000016", "DE", {}, None, None),
    ("(11) 98765-4321", "br", {}, None, None),
    ("1-415-555-2671", "US", {}, None, None),
    ("07911 123456", "GB", {}, None, None),
    ("+49 151 00000017", "DE", {"first_name": 'Zoë "Z" \\'}, None, None),
]


def _segment(rows) -> pa.Table:
    records = []
    for customer, (phone, country, overrides, _, _) in enumerate(rows):
        records.append(
            {"customer_id": customer, "phone": phone, "country": country, **GOOD, **overrides}
        )
    return pa.Table.from_pylist(records)


@pytest.fixture
def events(tmp_path):
    folder = tmp_path / "events"
    write_preferences(folder, [("4915100000011", "stop", datetime(2026, 5, 1, tzinfo=UTC))])
    write_statuses(
        folder,
        [
            ("4915100000012", 131050, datetime(2026, 4, 1, tzinfo=UTC)),
            ("4915100000014", 131049, datetime(2026, 5, 10, tzinfo=UTC)),
        ],
    )
    (tmp_path / "list.csv").write_text("recipient\n0151 00000013\n")
    return folder


@pytest.fixture
def spec(make_spec, tmp_path, events):
    return make_spec(
        region_column="country",
        suppression={
            "events_dir": str(events),
            "list_path": str(tmp_path / "list.csv"),
            "user_limit_hours": 48,
        },
    )


def _prepare(spec, templates, tmp_path, table, **kwargs):
    tmp_path.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, tmp_path / "audience.parquet")
    return prepare_plan(
        spec,
        tmp_path / "audience.parquet",
        templates["spring_sale"],
        tmp_path / "out",
        now=datetime(2026, 5, 10, 12, tzinfo=UTC),
        **kwargs,
    )


def test_prepare_rejects_every_bad_row_with_its_reason_and_plans_the_rest(
    spec, templates, tmp_path
):
    result = _prepare(spec, templates, tmp_path, _segment(ROWS), batch_rows=8)

    rejects = pq.read_table(result.rejects_path)
    plan = pq.read_table(result.plan_path)
    assert rejects.schema.equals(REJECTS_SCHEMA)
    assert plan.schema.names[: len(PLAN_SCHEMA)] == PLAN_SCHEMA.names
    got = {r["source_row"]: (r["reason"], r["column"]) for r in rejects.to_pylist()}
    expected = {i: (row[3], row[4]) for i, row in enumerate(ROWS) if row[3] is not None}
    assert got == expected
    assert len({reason for reason, _ in expected.values()}) >= 14
    assert len(expected) >= 25  # kinds of bad rows
    planned_rows = [i for i, row in enumerate(ROWS) if row[3] is None]
    assert plan.column("source_row").to_pylist() == planned_rows
    assert (result.rows, result.planned, result.rejected) == (
        len(ROWS),
        len(planned_rows),
        len(expected),
    )
    assert sum(result.rejected_by_reason.values()) == result.rejected


def test_prepare_rejects_name_the_row_and_keep_raw_values_short(spec, templates, tmp_path):
    result = _prepare(spec, templates, tmp_path, _segment(ROWS))

    rejects = {r["source_row"]: r for r in pq.read_table(result.rejects_path).to_pylist()}
    assert rejects[16]["detail"] == "same recipient as row 15"
    assert rejects[16]["recipient"] == "4915100000002"
    assert len(rejects[14]["recipient_raw"]) == 256
    assert "10000000 characters" in rejects[14]["detail"]
    assert rejects[18]["detail"] == "first_name is null"
    assert all(r["campaign_id"] == spec.campaign_id for r in rejects.values())


def test_prepare_plan_rows_are_ready_to_send(spec, templates, tmp_path):
    result = _prepare(spec, templates, tmp_path, _segment(ROWS))

    plan = pq.read_table(result.plan_path).to_pylist()
    by_row = {row["source_row"]: row for row in plan}
    assert (by_row[29]["recipient"], by_row[29]["country"]) == ("919876543210", "IN")
    assert by_row[30]["recipient"] == "4915100000015"
    assert by_row[32]["recipient"] == "5511987654321"
    assert by_row[34]["country"] == "GG"
    for row in plan:
        assert row["message_key"] == message_key(spec.campaign_id, row["recipient"])
        assert row["arm"] == arm_of(spec.campaign_id, row["recipient"], spec.arms)
        assert (row["template_name"], row["language"]) == ("spring_sale", "en")
        components = [Component.model_validate(c) for c in orjson.loads(row["components"])]
        assert [c.type for c in components] == ["header", "body", "button"]
        assert row["phone"] == ROWS[row["source_row"]][0]  # the segment's own columns follow
        assert row["segment_country"] == ROWS[row["source_row"]][1]  # renamed: plan has country
    assert orjson.loads(by_row[35]["components"])[1]["parameters"][0]["text"] == 'Zoë "Z" \\'


def test_prepare_arms_and_keys_do_not_depend_on_row_order(make_spec, templates, tmp_path):
    rng = random.Random(5)
    rows = [(f"+49 151 {rng.randrange(10**8):08d}", "DE", {}, None, None) for _ in range(3000)]
    shuffled = rows[:]
    rng.shuffle(shuffled)
    spec = make_spec()

    first = _prepare(spec, templates, tmp_path / "a", _segment(rows))
    second = _prepare(spec, templates, tmp_path / "b", _segment(shuffled))

    def assignment(path):
        table = pq.read_table(path, columns=["recipient", "arm", "message_key"])
        return {r["recipient"]: (r["arm"], r["message_key"]) for r in table.to_pylist()}

    assert assignment(first.plan_path) == assignment(second.plan_path)
    assert len(assignment(first.plan_path)) == 3000
    assert 0.85 < first.arms["mm"] / first.planned < 0.95


def test_prepare_template_mismatch_stops_before_writing(make_spec, templates, tmp_path):
    spec = make_spec(parameters={"body": [{"type": "text", "column": "first_name"}]})

    with pytest.raises(TemplateMismatchError):
        _prepare(spec, templates, tmp_path, _segment(ROWS[:2]))

    assert not (tmp_path / "out" / "plan.parquet").exists()


def test_prepare_missing_recipient_column(make_spec, templates, tmp_path):
    with pytest.raises(SpecError, match="column 'mobile' is not in the segment"):
        _prepare(make_spec(recipient_column="mobile"), templates, tmp_path, _segment(ROWS[:2]))


def test_prepare_wrong_types_in_a_currency_column(make_spec, templates, tmp_path):
    spec = make_spec(
        template={"name": "winback_offer", "language": "en"},
        parameters={
            "body": [
                {"type": "text", "column": "first_name"},
                {"type": "currency", "column": "discount", "currency": "EUR"},
                {"type": "date_time", "column": "until"},
            ]
        },
    )
    table = pa.table(
        {
            "phone": ["+49 151 00000001", "+49 151 00000002", "+49 151 00000003"],
            "first_name": ["Ana", "Ben", "Cy"],
            "discount": ["10.00", "ten euros", "-5"],
            "until": pa.array([datetime(2026, 5, 31, tzinfo=UTC)] * 3),
        }
    )
    pq.write_table(table, tmp_path / "audience.parquet")

    result = prepare_plan(spec, tmp_path / "audience.parquet", templates["winback_offer"], tmp_path)

    assert result.planned == 1
    assert result.rejected_by_reason == {"param_not_numeric": 1, "param_bad_amount": 1}


def test_prepare_empty_segment_writes_empty_files(make_spec, templates, tmp_path):
    table = _segment(ROWS[:1]).slice(0, 0)

    result = _prepare(make_spec(), templates, tmp_path, table)

    assert (result.planned, result.rejected) == (0, 0)
    assert pq.read_table(result.plan_path).num_rows == 0
    assert pq.read_table(result.rejects_path).schema.equals(REJECTS_SCHEMA)


def test_prepare_demo_warehouse_end_to_end(tmp_path, templates):
    from mmflow.warehouse import build_demo_warehouse, demo_campaign_spec

    warehouse = build_demo_warehouse(tmp_path / "demo.duckdb", rows=3000, seed=3)
    spec = demo_campaign_spec(warehouse)
    audience = extract_segment(spec.segment, tmp_path / "audience.parquet")

    result = prepare_plan(spec, audience.path, templates["spring_sale"], tmp_path)

    assert result.rows == audience.rows == result.planned + result.rejected
    assert result.planned > 0.9 * result.rows
    assert {"duplicate", "invalid_number", "invalid_characters", "empty"} <= set(
        result.rejected_by_reason
    )
    assert set(result.arms) == {"mm", "cloud"}
    assert result.slow_numbers < 0.05 * result.distinct_numbers
