"""Landing from an object store into an object store (moto's S3 on localhost)."""

from __future__ import annotations

import io
import logging
import shutil
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from flows.land_webhooks import land_webhooks
from mmapi.landing import LandingConfig, land
from mmapi.sandbox.generator import generate_webhook_files
from tests.secret_scan import format_hits

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_land_from_s3_to_s3_resumes_on_another_machine(
    bucket, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
):
    caplog.set_level(logging.INFO)
    raw = tmp_path / "raw"
    made = generate_webhook_files(raw, messages=300, seed=5, lines_per_file=40)
    distinct = {
        (event["wamid"], event["status"])
        for event in (made.truth.event_record(n) for n in range(made.truth.event_count))
        if event["kind"] == "status"
    }
    fs = bucket.fs
    files = sorted(raw.glob("*.ndjson"))
    assert len(files) >= 2
    fs.put_file(str(files[0]), f"{bucket.name}/raw/{files[0].name}")

    first = land_webhooks(source=f"{bucket.url}/raw", out=f"{bucket.url}/lake")
    # Another machine (an empty working folder) lands what came since, and only that.
    shutil.rmtree(bucket.work)
    for path in files[1:]:
        fs.put_file(str(path), f"{bucket.name}/raw/{path.name}")
    config = LandingConfig(source=f"{bucket.url}/raw/", out=f"{bucket.url}/lake")
    second = land(config).as_dict()
    third = land(config).as_dict()

    objects = bucket.objects()
    statuses = [
        row
        for key, data in objects.items()
        if key.startswith("lake/events/statuses/dt=")
        for row in pq.read_table(io.BytesIO(data)).to_pylist()
    ]
    assert {(row["wamid"], row["status"]) for row in statuses} == distinct
    assert len(statuses) == len(distinct) == first["statuses"] + second["statuses"]
    assert (first["files_read"], second["files_read"], third["files_read"]) == (
        1,
        len(files) - 1,
        0,
    )
    manifest = orjson.loads(objects["lake/events/_landing/manifest.json"])
    assert sorted(manifest["files"]) == [f"s3://{bucket.name}/raw/{p.name}" for p in files]
    assert not any("staging" in key or key.endswith(".tmp") for key in objects)
    captured = capfd.readouterr()
    texts = (caplog.text, captured.out, captured.err)
    hits = bucket.credential_hits(tmp_path / "scan", *texts)
    assert not hits, format_hits(hits)
