"""A local S3 endpoint (moto's server) for the object-storage tests: no internet involved."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Credentials the tests plant: the secret must never show up in anything a run produces.
ACCESS_KEY_ID = "AKIAMMFLOWTEST0000001"
SECRET_ACCESS_KEY = "mmflow-s3-secret-8c1d0f57e2b94a6f"
REGION = "eu-central-1"


@dataclass(frozen=True)
class Bucket:
    """A fresh bucket on the local endpoint, with the environment pointing at it.

    Attributes:
        name: The bucket.
        url: `s3://<name>`.
        work: The local working folder (`MMFLOW_WORK_DIR`) of this test.
    """

    name: str
    url: str
    work: Path

    def objects(self) -> dict[str, bytes]:
        """Every object in the bucket: key -> bytes."""
        import s3fs

        fs = s3fs.S3FileSystem(use_listings_cache=False)
        return {path[len(self.name) + 1 :]: fs.cat_file(path) for path in fs.find(self.name)}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 in server mode on a free local port, for the whole session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bucket]:
    """A new bucket; credentials and endpoint from the environment, as boto reads them."""
    import boto3

    from mmapi import storage

    for name, value in {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        storage.WORK_DIR_ENV: str(tmp_path / "work"),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    name = f"mmflow-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    storage.use_credentials(None)
    yield Bucket(name, f"s3://{name}", tmp_path / "work")
    storage.use_credentials(None)
