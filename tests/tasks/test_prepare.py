"""The prepare task: called with `.fn()` on the extract task's result or a path."""

from __future__ import annotations

import pyarrow.parquet as pq
from prefect.cache_policies import NO_CACHE

from mmapi.sandbox.catalog import default_templates
from mmflow.warehouse import build_demo_warehouse, demo_campaign_spec
from tasks.extract import extract_segment
from tasks.prepare import prepare_plan

SPRING_SALE = next(t for t in default_templates() if t.name == "spring_sale").info()


def test_prepare_task_on_the_extract_result(tmp_path):
    warehouse = build_demo_warehouse(tmp_path / "demo.duckdb", rows=600)
    spec = demo_campaign_spec(
        warehouse, suppression={"list_query": "SELECT phone FROM customers WHERE vip"}
    )
    audience = extract_segment.fn(spec, tmp_path)

    result = prepare_plan.fn(spec, audience, SPRING_SALE, tmp_path)

    assert result["rows"] == audience["rows"] == result["planned"] + result["rejected"]
    assert (
        0
        < result["rejected_by_reason"]["suppressed_list"]
        <= result["suppression"]["suppressed_list"]
    )
    assert pq.read_table(result["plan_path"]).num_rows == result["planned"]
    assert pq.read_table(result["rejects_path"]).num_rows == result["rejected"]
    assert set(result["arms"]) <= {"mm", "cloud"}


def test_prepare_task_on_a_path_with_events(tmp_path):
    warehouse = build_demo_warehouse(tmp_path / "demo.duckdb", rows=300)
    spec = demo_campaign_spec(warehouse)
    audience = extract_segment.fn(spec, tmp_path)
    (tmp_path / "events").mkdir()

    result = prepare_plan.fn(
        spec, audience["audience_path"], SPRING_SALE, tmp_path, tmp_path / "events"
    )

    assert result["planned"] > 0
    assert isinstance(result["plan_path"], str)


def test_prepare_task_never_caches():
    assert prepare_plan.cache_policy is NO_CACHE
