"""The report from inputs (rate card too) on an object store to an output on it (moto's S3)."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from prefect_aws import AwsCredentials

from flows.build_report import build_report
from mmapi.analytics.rates import DEFAULT_RATE_CARD_PATH, load_rate_card
from tests.mmapi.analytics.scenario import AS_OF, write_scenario
from tests.secret_scan import format_hits
from tests.storage.conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

pytestmark = pytest.mark.usefixtures("prefect_harness")

BLOCK = "mmflow-test-s3"


def test_build_report_from_s3_inputs_to_an_s3_output_with_a_credentials_block(
    bucket,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture,
):
    caplog.set_level(logging.INFO)
    inputs = write_scenario(tmp_path / "inputs")
    fs = bucket.fs
    fs.put(str(inputs.sends), f"{bucket.name}/campaigns/spring/sends.parquet")
    fs.put(str(inputs.events / "events"), f"{bucket.name}/lake/events", recursive=True)
    fs.put(str(DEFAULT_RATE_CARD_PATH), f"{bucket.name}/config/rates.csv")
    # The keys come from a prefect-aws AwsCredentials block only, not from the environment.
    AwsCredentials(
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
        aws_client_parameters={"endpoint_url": bucket.endpoint},
    ).save(BLOCK, overwrite=True)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name)

    result = build_report(
        sends=f"{bucket.url}/campaigns",
        events=f"{bucket.url}/lake",
        out=f"{bucket.url}/report",
        rate_card=f"{bucket.url}/config/rates.csv",
        as_of=AS_OF.isoformat(),
        aws_credentials_block=BLOCK,
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
        assert con.sql("SELECT rate_card FROM report_parameters").fetchall() == [
            (f"{bucket.url}/config/rates.csv",)
        ]
        assert con.sql("SELECT count(*) FROM rate_card").fetchall() == [
            (load_rate_card().num_rows,)
        ]
    assert not any(key.rsplit("/", 1)[-1].startswith(".") for key in objects)
    captured = capfd.readouterr()
    texts = (caplog.text, captured.out, captured.err, repr(result))
    hits = bucket.credential_hits(tmp_path / "scan", *texts)
    # The Prefect server's records of every flow run so far in this process, this one's too.
    hits += asyncio.run(bucket.prefect_credential_hits())
    assert not hits, format_hits(hits)
