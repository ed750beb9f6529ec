"""mmapi.storage on moto's S3: publishing and pulling files, credentials kept out of sight."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from mmapi import storage
from mmapi.storage import OutputFolder, S3Credentials
from mmflow.cli import EXIT_BAD_INPUT, app
from tests.secret_scan import SecretScanner, format_hits
from tests.storage.conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY


def test_an_output_folder_on_s3_publishes_whole_files_and_pulls_them_back(bucket):
    folder = OutputFolder(f"{bucket.url}/campaigns/spring/")
    folder.local.mkdir(parents=True)
    (folder.local / "plan.parquet").write_bytes(b"plan")
    (folder.local / "ledger.sqlite").write_bytes(b"ledger")

    folder.publish("plan.parquet", "rejects.parquet")  # rejects.parquet: not written, skipped

    assert folder.local == bucket.work / "s3" / bucket.name / "campaigns" / "spring"
    assert bucket.objects() == {"campaigns/spring/plan.parquet": b"plan"}
    (folder.local / "plan.parquet").unlink()
    assert folder.pull("plan.parquet", "campaign.json") == ["plan.parquet"]
    assert (folder.local / "plan.parquet").read_bytes() == b"plan"
    assert folder.pull("plan.parquet") == []  # already here


def test_credentials_stay_out_of_reprs_and_errors(bucket, monkeypatch: pytest.MonkeyPatch):
    scanner = SecretScanner({"aws_secret_access_key": SECRET_ACCESS_KEY})
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    given = S3Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY, region=REGION)
    storage.use_credentials(given)
    fs, _ = storage.filesystem(f"{bucket.url}/x")
    hits = scanner.scan_text("repr", f"{given!r} {given} {fs!r}")
    assert storage.exists(bucket.url)
    with pytest.raises(FileNotFoundError) as missing:
        storage.upload(Path(__file__), "s3://no-such-bucket-mmflow/x.py")
    hits += scanner.scan_exception("missing bucket", missing.value)
    assert not hits, format_hits(hits)


def test_cli_names_a_missing_bucket_in_one_line(bucket, tmp_path: Path):
    result = CliRunner().invoke(
        app, ["land", "--source", str(tmp_path), "--out", "s3://no-such-bucket-mmflow/lake"]
    )

    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "s3://no-such-bucket-mmflow: no such bucket" in result.output


def test_secret_scanner_finds_a_planted_secret_in_a_stores_objects(tmp_path: Path):
    scanner = SecretScanner({"aws_secret_access_key": SECRET_ACCESS_KEY})
    parquet = io.BytesIO()
    pq.write_table(pa.table({"note": [f"key={SECRET_ACCESS_KEY}"]}), parquet, compression="zstd")
    objects = {"lake/x.parquet": parquet.getvalue(), "report/ok.html": b"<p>nothing</p>"}

    hits = scanner.scan_store(objects, tmp_path)

    assert {hit.where.split(":")[0] for hit in hits} == {"object lake/x.parquet"}
