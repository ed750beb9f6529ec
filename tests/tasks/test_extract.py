"""The extract task: called with `.fn()`, DuckDB and Prefect-block connections, no caching."""

from __future__ import annotations

import logging

import pyarrow.parquet as pq
import pytest
from prefect.cache_policies import NO_CACHE
from prefect_sqlalchemy import SqlAlchemyConnector

from mmapi.campaign import CampaignSpec
from mmapi.errors import SpecError, WarehouseUnreachableError
from mmflow.warehouse import build_demo_warehouse, demo_campaign_spec
from tasks.extract import extract_segment

POSTGRES_WITH_PASSWORD = "postgresql+psycopg://postgres:task-s3cret@127.0.0.1:5432/test"


@pytest.fixture
def warehouse(tmp_path):
    return build_demo_warehouse(tmp_path / "demo.duckdb", rows=400)


def test_extract_task_writes_the_audience(warehouse, tmp_path):
    spec = demo_campaign_spec(warehouse)

    result = extract_segment.fn(spec, tmp_path / "out")

    assert pq.read_table(result["audience_path"]).num_rows == result["rows"] > 300
    assert result["suppression_list_path"] is None
    assert {"batches", "columns", "seconds"} <= set(result)


def test_extract_task_never_caches():
    assert extract_segment.cache_policy is NO_CACHE


def test_extract_task_extracts_the_suppression_list_query(warehouse, tmp_path):
    spec = demo_campaign_spec(
        warehouse,
        suppression={"list_query": "SELECT phone AS recipient FROM customers WHERE vip"},
    )

    result = extract_segment.fn(spec, tmp_path)

    listed = pq.read_table(result["suppression_list_path"])
    assert listed.column_names == ["recipient"]
    assert listed.num_rows == result["suppression_list_rows"] > 0


def _block_spec(connection: str) -> CampaignSpec:
    return CampaignSpec.from_mapping(
        {
            "campaign_id": "block-test",
            "segment": {"query": "SELECT 1 AS one, 'x' AS phone", "connection": connection},
            "template": {"name": "spring_sale", "language": "en"},
        }
    )


def test_extract_task_reads_through_a_sqlalchemy_connector_block(monkeypatch, tmp_path, caplog):
    loaded = []

    def load(name, **options):
        loaded.append((name, options))
        return SqlAlchemyConnector(connection_info=POSTGRES_WITH_PASSWORD)

    monkeypatch.setattr(SqlAlchemyConnector, "load", staticmethod(load))
    caplog.set_level(logging.DEBUG)

    result = extract_segment.fn(_block_spec("block:warehouse"), tmp_path)

    # Forced sync: an async flow calling this sync task must not get a coroutine back.
    assert loaded == [("warehouse", {"_sync": True})]
    assert pq.read_table(result["audience_path"]).to_pylist() == [{"one": 1, "phone": "x"}]
    assert "task-s3cret" not in caplog.text


def test_extract_task_block_errors_hide_the_password(monkeypatch, tmp_path):
    unreachable = POSTGRES_WITH_PASSWORD.replace(":5432", ":1")
    monkeypatch.setattr(
        SqlAlchemyConnector,
        "load",
        staticmethod(lambda name, **options: SqlAlchemyConnector(connection_info=unreachable)),
    )

    with pytest.raises(
        WarehouseUnreachableError, match="cannot connect to the warehouse"
    ) as raised:
        extract_segment.fn(_block_spec("block:warehouse"), tmp_path)

    assert "task-s3cret" not in str(raised.value)


def test_extract_task_unknown_block(monkeypatch, tmp_path):
    def missing(name, **options):
        raise ValueError("Unable to find block document named warehouse")

    monkeypatch.setattr(SqlAlchemyConnector, "load", staticmethod(missing))

    with pytest.raises(SpecError, match="no SqlAlchemyConnector block named 'warehouse'"):
        extract_segment.fn(_block_spec("block:warehouse"), tmp_path)
