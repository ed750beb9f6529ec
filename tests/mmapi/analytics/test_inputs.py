"""Input views: file discovery, and landings whose columns differ from the expected ones."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmapi.analytics import find_event_files, find_sends_files, register_inputs

from .helpers import T0, send, write_sends


def test_find_sends_files_folder_takes_only_sends(tmp_path):
    write_sends(tmp_path / "c1" / "sends.parquet", [send("a", "mm")])
    write_sends(tmp_path / "c1" / "plan.parquet", [send("b", "mm")])
    write_sends(tmp_path / "c1" / ".sends.parquet.tmp.parquet", [send("c", "mm")])

    assert find_sends_files(tmp_path) == [tmp_path / "c1" / "sends.parquet"]
    assert find_sends_files(str(tmp_path / "*" / "plan.parquet")) == [
        tmp_path / "c1" / "plan.parquet"
    ]
    with pytest.raises(FileNotFoundError, match="no sends Parquet"):
        find_sends_files(tmp_path / "nothing")


def test_find_event_files_accepts_dir_or_events_dir(tmp_path):
    folder = tmp_path / "events" / "statuses" / "dt=2025-09-01"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"wamid": ["w"]}), folder / "part-0.parquet")

    assert find_event_files(tmp_path) == find_event_files(tmp_path / "events")
    assert find_event_files(tmp_path)["clicks"] == []
    with pytest.raises(FileNotFoundError):
        find_event_files(tmp_path / "missing")


def test_register_inputs_adapts_columns(tmp_path):
    write_sends(tmp_path / "sends.parquet", [send("a", "mm")])
    folder = tmp_path / "events" / "statuses" / "dt=2025-09-01"
    folder.mkdir(parents=True)
    # Another landing: `id` and Unix-seconds `timestamp`, error code as text, no pricing.
    epoch = int(T0.timestamp())
    pq.write_table(
        pa.table(
            {"id": ["wamid.a"], "status": ["read"], "timestamp": [epoch], "error_code": ["7"]}
        ),
        folder / "part-0.parquet",
    )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")

    files = register_inputs(con, tmp_path / "sends.parquet", tmp_path)
    row = con.sql("SELECT wamid, ts, error_code, pricing_category FROM statuses").fetchall()[0]

    assert files.counts() == {"sends": 1, "statuses": 1, "clicks": 0, "preferences": 0}
    assert row == ("wamid.a", T0, 7, None)
    assert con.sql("SELECT count(*) FROM clicks").fetchall() == [(0,)]
