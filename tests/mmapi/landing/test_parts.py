"""The landing's parts: line framing and offsets, the manifest, the schemas and the SQL files."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmapi.landing import (
    LANDING_SQL_DIR,
    OTHER_COLUMNS,
    OUTPUT_SCHEMAS,
    STATUS_COLUMNS,
    LandingConfig,
    Manifest,
    SqlLibrary,
    container_paths,
    duckdb_type,
    frame_lines,
    land,
    pending_sources,
    read_line_at,
    splice_offset,
    write_days,
)
from mmapi.landing.sources import SourceFile


def test_frame_lines_skips_blank_lines_and_keeps_offsets():
    data = b'{"a":1}\n\n \t\r\n{"b":2}\r\n\x0b\n{"c":3}'

    assert frame_lines(data, 10) == [(10, b'{"a":1}'), (23, b'{"b":2}\r'), (34, b'{"c":3}')]


def test_splice_offset_adds_the_offset_as_first_key():
    spliced = splice_offset(b'  {"a": {"b": 1}}\r', 123)

    assert orjson.loads(spliced) == {"_mmflow_offset": 123, "a": {"b": 1}}
    assert orjson.loads(splice_offset(b"{ \t }", 5)) == {"_mmflow_offset": 5}


def test_read_line_at_reads_one_line(tmp_path: Path):
    path = tmp_path / "a.ndjson"
    path.write_bytes(b'{"a":1}\n{"b":2}\n')

    assert read_line_at(path, 8) == b'{"b":2}'


def test_manifest_round_trip_and_refuses_foreign_files(tmp_path: Path):
    manifest = Manifest(tmp_path / "m.json")
    manifest.record("s3://b/raw/a.ndjson", offset=5, size=9, mtime=1.5, kind="ndjson")
    manifest.save()

    again = Manifest.load(tmp_path / "m.json")
    (tmp_path / "bad.json").write_text('{"files": {}}')

    assert again.get("s3://b/raw/a.ndjson").offset == 5
    assert again.get("other") is None
    with pytest.raises(ValueError, match="not a landing manifest"):
        Manifest.load(tmp_path / "bad.json")


def _source(size: int, *, document: bool = False, compressed: bool = False) -> SourceFile:
    return SourceFile("raw/a", "raw/a", size, 10.0, compressed, document)


def test_pending_sources_follows_offsets_sizes_and_kinds(tmp_path: Path):
    manifest = Manifest(tmp_path / "m.json")
    manifest.record("raw/a", offset=100, size=100, mtime=10.0, kind="ndjson")

    assert pending_sources([_source(100)], manifest) == []
    assert pending_sources([_source(150)], manifest) == [(_source(150), 100)]
    assert pending_sources([_source(50)], manifest) == [(_source(50), 0)]
    manifest.record("raw/a", offset=900, size=100, mtime=10.0, kind="ndjson.gz")
    assert pending_sources([_source(100, compressed=True)], manifest) == []
    assert pending_sources([_source(120, compressed=True)], manifest) == [
        (_source(120, compressed=True), 900)
    ]
    assert pending_sources([_source(120, document=True)], manifest) == [
        (_source(120, document=True), 0)
    ]


def test_duckdb_type_of_nested_schemas():
    assert duckdb_type(["VARCHAR"]) == "VARCHAR[]"
    assert STATUS_COLUMNS["entry"].startswith('STRUCT("id" VARCHAR, "changes" STRUCT(')
    assert set(OTHER_COLUMNS) == {"_mmflow", "_mmflow_offset", "object", "entry"}


def test_line_checks_lists_every_container_of_the_schemas():
    text = SqlLibrary()["line_checks"]
    listed = set(re.findall(r"json_type\(text, '([^']+)'\)", text))

    assert listed == {path for path, _ in container_paths()}
    for path, kind in container_paths():
        assert f"'{path}'" in text
        assert f"'{kind}'" in text


def test_sql_files_hold_one_statement_each_with_a_comment():
    for path in sorted(LANDING_SQL_DIR.glob("*.sql")):
        text = path.read_text()
        code = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
        assert text.startswith("-- "), path.name
        assert code.count(";") == 1, path.name
        assert code.rstrip().endswith(";"), path.name


def test_sql_library_names_a_missing_file():
    with pytest.raises(FileNotFoundError, match=r"landing/nothing\.sql"):
        SqlLibrary()["nothing"]


def test_landing_config_rejects_bad_values(tmp_path: Path):
    with pytest.raises(ValueError, match="memory_limit"):
        LandingConfig(source="raw", out=tmp_path, memory_limit="lots")
    with pytest.raises(ValueError, match="source"):
        LandingConfig(source="", out=tmp_path)


def test_write_days_writes_the_kept_rows_of_each_day_only(tmp_path: Path):
    schema = OUTPUT_SCHEMAS["preferences"]
    stamp = datetime(2026, 11, 27, tzinfo=UTC)
    first, second, third = date(2026, 11, 27), date(2026, 11, 28), date(2026, 11, 29)
    columns = {field.name: pa.nulls(4, field.type) for field in schema}
    columns |= {
        "wa_id": pa.array(["a", "b", "c", "d"]),
        "value": pa.array(["stop"] * 4),
        "ts": pa.array([stamp] * 4, schema.field("ts").type),
        "problem": pa.array([None, None, "bad", None], pa.string()),
        "dt": pa.array([first, second, first, third], pa.date32()),
    }
    keep = pa.array([True, True, False, False])

    written = write_days(
        pa.table(columns),
        keep,
        pa.array([first, second, third], pa.date32()),
        tmp_path / "preferences",
        "preferences",
        "p.parquet",
        staging=tmp_path / "staging",
    )

    assert written == {"2026-11-27": 1, "2026-11-28": 1}
    assert sorted(path.parent.name for path in (tmp_path / "preferences").glob("*/*")) == [
        "dt=2026-11-27",
        "dt=2026-11-28",
    ]
    landed = pq.read_table(tmp_path / "preferences" / "dt=2026-11-27" / "p.parquet")
    assert landed.column("wa_id").to_pylist() == ["a"]
    assert landed.schema.remove_metadata() == schema


def test_write_days_splits_a_big_day_in_two_files_in_row_order(tmp_path: Path):
    schema = OUTPUT_SCHEMAS["preferences"]
    stamp = datetime(2026, 11, 27, tzinfo=UTC)
    big, small = date(2026, 11, 27), date(2026, 11, 28)
    columns = {field.name: pa.nulls(6, field.type) for field in schema}
    columns |= {
        "wa_id": pa.array(["a", "b", "c", "d", "e", "f"]),
        "value": pa.array(["stop"] * 6),
        "ts": pa.array([stamp] * 6, schema.field("ts").type),
        "dt": pa.array([big, small, big, big, big, big], pa.date32()),
    }
    keep = pa.array([True, True, True, False, True, True])

    written = write_days(
        pa.table(columns),
        keep,
        pa.array([big, small], pa.date32()),
        tmp_path / "preferences",
        "preferences",
        "p.parquet",
        staging=tmp_path / "staging",
        piece_rows=2,
    )

    assert written == {"2026-11-27": 4, "2026-11-28": 1}
    folder = tmp_path / "preferences" / "dt=2026-11-27"
    assert sorted(path.name for path in folder.iterdir()) == ["p-1.parquet", "p-2.parquet"]
    landed = [pq.read_table(folder / f"p-{n}.parquet").column("wa_id").to_pylist() for n in (1, 2)]
    assert landed == [["a", "c"], ["e", "f"]]
    assert [path.name for path in (tmp_path / "preferences" / "dt=2026-11-28").iterdir()] == [
        "p.parquet"
    ]


def test_land_restores_arrows_default_memory_pool(tmp_path: Path):
    (tmp_path / "raw").mkdir()
    before = pa.default_memory_pool().backend_name

    land(LandingConfig(source=str(tmp_path / "raw"), out=tmp_path / "lake"))

    assert pa.default_memory_pool().backend_name == before
