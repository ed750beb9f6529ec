"""Extract: DuckDB, Parquet, CSV, SQLAlchemy (a real Postgres) into Parquet, in batches."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from mmapi.audience import (
    extract_query,
    extract_segment,
    mask_url,
)
from mmapi.campaign import SegmentSource
from mmapi.errors import ExtractError, WarehouseUnreachableError

# The Postgres server of this machine (trust auth). This test must fail, not skip, without it.
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(
            "CREATE TABLE customers AS SELECT range AS customer_id, "
            "'+49 151 ' || lpad(CAST(range AS VARCHAR), 8, '0') AS phone, "
            "CASE WHEN range % 2 = 0 THEN 'Ana' END AS first_name FROM range(200000)"
        )
    return path


def test_extract_duckdb_file_streams_in_batches(warehouse, tmp_path):
    segment = SegmentSource(
        query="SELECT * FROM customers ORDER BY customer_id", connection=str(warehouse)
    )

    result = extract_segment(segment, tmp_path / "audience.parquet", batch_rows=20_000)

    metadata = pq.ParquetFile(result.path).metadata
    assert result.rows == 200_000 == metadata.num_rows
    # One row group per batch and no batch over the limit: memory is bounded by the batch.
    assert result.batches == metadata.num_row_groups >= 10
    assert max(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)) <= 20_000
    table = pq.read_table(result.path)
    assert table.column("customer_id").to_pylist()[:3] == [0, 1, 2]
    assert table.column("first_name").null_count == 100_000


def test_extract_sql_file_under_sql_folder(tmp_path):
    from mmflow.warehouse import build_demo_warehouse

    warehouse = build_demo_warehouse(tmp_path / "demo.duckdb", rows=500)
    segment = SegmentSource(sql_file="segments/spring_sale.sql", connection=str(warehouse))

    result = extract_segment(segment, tmp_path / "audience.parquet")

    assert 400 < result.rows < 500
    assert {"phone", "country", "first_name", "coupon", "image_url"} <= set(result.columns)


def test_extract_parquet_and_csv_files(tmp_path):
    pq.write_table(pa.table({"phone": ["+4915100000001"], "n": [1]}), tmp_path / "seg.parquet")
    (tmp_path / "seg.csv").write_text(
        "phone,coupon,amount\n0151 00000002,00123,10.5\n+4915100000003,7,3\n"
    )

    from_parquet = extract_segment(
        SegmentSource(path=str(tmp_path / "seg.parquet")), tmp_path / "a.parquet"
    )
    from_csv = extract_segment(
        SegmentSource(path=str(tmp_path / "seg.csv")), tmp_path / "b.parquet"
    )

    assert pq.read_table(from_parquet.path).to_pylist() == [{"phone": "+4915100000001", "n": 1}]
    csv = pq.read_table(from_csv.path)
    # Every CSV column is text: leading zeros and plus signs survive.
    assert csv.column("phone").to_pylist() == ["0151 00000002", "+4915100000003"]
    assert csv.column("coupon").to_pylist() == ["00123", "7"]


def test_extract_sqlite_url_streams_and_keeps_types(tmp_path):
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE c (id INTEGER, phone TEXT, note TEXT)")
        connection.exec_driver_sql(
            "INSERT INTO c VALUES " + ",".join(f"({i}, '+49151{i:08d}', NULL)" for i in range(2500))  # noqa: S608
        )
        connection.exec_driver_sql("UPDATE c SET note = 'late' WHERE id = 2400")
    engine.dispose()

    result = extract_query(
        "SELECT * FROM c ORDER BY id", url, tmp_path / "a.parquet", batch_rows=1000
    )

    table = pq.read_table(result.path)
    assert (result.rows, result.batches) == (2500, 3)
    assert table.schema.field("id").type == pa.int64()
    # All null in the first batch, text later: read as text throughout.
    assert table.column("note").to_pylist()[2400] == "late"


@pytest.fixture
def postgres_table() -> Iterator[str]:
    """A table in a schema of its own on the real Postgres server, dropped afterwards."""
    schema = f"mmflow_extract_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
        connection.exec_driver_sql(
            f"CREATE TABLE {schema}.customers (customer_id bigint, phone text, first_name text, "
            "discount numeric(6, 2), last_purchase_at timestamptz)"
        )
        connection.exec_driver_sql(
            f"INSERT INTO {schema}.customers SELECT g, '+49 151 ' || lpad(g::text, 8, '0'), "  # noqa: S608
            "CASE WHEN mod(g, 3) = 0 THEN NULL ELSE 'Ana' END, mod(g, 20) + 0.5, "
            "timestamptz '2026-01-01 00:00+00' + g * interval '1 minute' "
            "FROM generate_series(1, 25000) g"
        )
    try:
        yield f"{schema}.customers"
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        engine.dispose()


def test_extract_postgres_streams_with_a_server_side_cursor(postgres_table, tmp_path):
    segment = SegmentSource(
        # A LIKE with % and a :: cast: text() must pass both through to psycopg unharmed.
        query=f"SELECT * FROM {postgres_table} WHERE phone LIKE '+49%' AND '1'::int = 1 "  # noqa: S608
        "ORDER BY customer_id",
        connection=POSTGRES_URL,
    )

    result = extract_segment(segment, tmp_path / "audience.parquet", batch_rows=10_000)

    table = pq.read_table(result.path)
    assert (result.rows, result.batches) == (25_000, 3)
    assert table.column("phone")[0].as_py() == "+49 151 00000001"
    assert table.column("first_name").null_count == 8333
    assert pa.types.is_decimal(table.schema.field("discount").type)
    assert table.schema.field("last_purchase_at").type.tz is not None


def test_extract_postgres_error_hides_the_password(postgres_table, tmp_path):
    # Trust auth accepts any password: the query fails, and its error must not show it.
    url = "postgresql://postgres:s3cret-pw@127.0.0.1:5432/test"

    with pytest.raises(ExtractError) as raised:
        extract_query(f"SELECT nope FROM {postgres_table}", url, tmp_path / "a.parquet")  # noqa: S608

    assert "s3cret-pw" not in str(raised.value)
    assert "postgres:***@127.0.0.1" in str(raised.value)
    assert not (tmp_path / "a.parquet").exists()


def test_extract_unreachable_warehouse_is_one_masked_line(tmp_path, caplog):
    url = "postgresql://app:hunter2-secret@127.0.0.1:1/shop"

    with pytest.raises(WarehouseUnreachableError) as raised:
        extract_query("SELECT 1", url, tmp_path / "a.parquet")

    message = str(raised.value)
    assert message.startswith(
        "cannot connect to the warehouse postgresql+psycopg://app:***@127.0.0.1:1/shop"
    )
    assert "\n" not in message
    assert "hunter2" not in message
    assert "hunter2" not in caplog.text
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:s3cret@db:5432/shop", "postgresql://app:***@db:5432/shop"),
        (
            "postgresql+psycopg://app:p%40ss@db/shop?sslmode=require",
            "postgresql+psycopg://app:***@db/shop?sslmode=require",
        ),
        ("snowflake://u:pw@acct/db", "snowflake://u:***@acct/db"),
        ("warehouse.duckdb", "warehouse.duckdb"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_mask_url_hides_passwords(url, masked):
    assert mask_url(url) == masked


def test_extract_missing_warehouse_file(tmp_path):
    segment = SegmentSource(query="SELECT 1", connection=str(tmp_path / "nope.duckdb"))

    with pytest.raises(WarehouseUnreachableError, match="not found"):
        extract_segment(segment, tmp_path / "a.parquet")


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        ({"query": "SELECT * FROM no_such_table"}, "segment query failed"),
        ({"sql_file": "segments/no_such_segment.sql"}, "not found"),
        ({"path": "/nonexistent/segment.parquet"}, "not found"),
        ({"query": "SELECT 1", "connection": "block:warehouse"}, "loaded by the Prefect task"),
        ({"query": "SELECT 1", "connection": "nosuchdb://x"}, "cannot use connection"),
    ],
)
def test_extract_errors_are_one_line(warehouse, tmp_path, segment, message):
    source = SegmentSource.model_validate({"connection": str(warehouse), **segment})

    with pytest.raises(ExtractError, match=message) as raised:
        extract_segment(source, tmp_path / "a.parquet")

    assert "\n" not in str(raised.value)


def test_extract_failing_mid_stream_leaves_no_file(tmp_path):
    query = (
        "SELECT CAST(CASE WHEN range < 150000 THEN '1' ELSE 'x' END AS INTEGER) AS v "
        "FROM range(200000)"
    )

    with pytest.raises(ExtractError, match="Conversion Error"):
        extract_query(query, ":memory:", tmp_path / "a.parquet", batch_rows=10_000)

    assert list(tmp_path.iterdir()) == []


def test_extract_column_changing_type_is_a_clear_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'loose.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE c (id INTEGER, amount)")
        connection.exec_driver_sql("INSERT INTO c VALUES (1, 5), (2, 7), (3, 'lots')")
    engine.dispose()

    with pytest.raises(ExtractError, match="column 'amount' changes type between rows"):
        extract_query("SELECT * FROM c ORDER BY id", url, tmp_path / "a.parquet", batch_rows=2)

    assert not (tmp_path / "a.parquet").exists()
