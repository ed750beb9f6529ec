"""The report from inputs on an object store to an output on it (moto's S3 on localhost)."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import s3fs

from flows.build_report import build_report
from tests.mmapi.analytics.scenario import AS_OF, write_scenario

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_build_report_from_s3_inputs_to_an_s3_output(bucket, tmp_path: Path):
    inputs = write_scenario(tmp_path / "inputs")
    fs = s3fs.S3FileSystem(use_listings_cache=False)
    fs.put(str(inputs.sends), f"{bucket.name}/campaigns/spring/sends.parquet")
    fs.put(str(inputs.events / "events"), f"{bucket.name}/lake/events", recursive=True)
    result = build_report(
        sends=f"{bucket.url}/campaigns",
        events=f"{bucket.url}/lake",
        out=f"{bucket.url}/report",
        as_of=AS_OF.isoformat(),
    )

    # The figures of tests/flows/test_build_report.py, which reads the same files locally.
    funnel = {row["arm"]: row for row in result["summary"]["funnel"]}
    assert (funnel["mm"]["accepted"], funnel["mm"]["delivered"], funnel["mm"]["read"]) == (6, 4, 2)
    assert result["files"] == {"sends": 1, "statuses": 1, "clicks": 1, "preferences": 0}
    assert (result["location"], result["html"]) == (
        f"{bucket.url}/report/analytics.duckdb",
        f"{bucket.url}/report/report.html",
    )
    objects = bucket.objects()
    assert {f"report/tables/{name}.parquet" for name in result["tables"]} == {
        key for key in objects if key.startswith("report/tables/")
    }
    funnel_table = pq.read_table(io.BytesIO(objects["report/tables/funnel.parquet"]))
    assert funnel_table.to_pylist() == pq.read_table(result["tables"]["funnel"]).to_pylist()
    assert objects["report/report.html"].count(b"data:image/png;base64,") == 4
    database = tmp_path / "downloaded.duckdb"
    database.write_bytes(objects["report/analytics.duckdb"])
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM funnel").fetchall() == [(2,)]
    assert not any(key.rsplit("/", 1)[-1].startswith(".") for key in objects)
