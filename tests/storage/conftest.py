"""A local S3 endpoint (moto's server) for the object-storage tests: no internet involved."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.secret_scan import Hit, SecretScanner

if TYPE_CHECKING:
    import s3fs

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
    endpoint: str

    @property
    def fs(self) -> s3fs.S3FileSystem:
        """A filesystem of the test's own, with the credentials given explicitly."""
        import s3fs

        return s3fs.S3FileSystem(
            key=ACCESS_KEY_ID,
            secret=SECRET_ACCESS_KEY,
            client_kwargs={"endpoint_url": self.endpoint, "region_name": REGION},
            use_listings_cache=False,
        )

    def objects(self) -> dict[str, bytes]:
        """Every object in the bucket: key -> bytes."""
        fs = self.fs
        return {path[len(self.name) + 1 :]: fs.cat_file(path) for path in fs.find(self.name)}

    def credential_hits(self, scratch: Path, *texts: str) -> list[Hit]:
        """Where the planted credentials show up: the bucket's objects, the working folder,
        and the given texts (captured logs and output)."""
        scanner = SecretScanner({"aws_secret_access_key": SECRET_ACCESS_KEY})
        hits = scanner.scan_store(self.objects(), scratch)
        hits += scanner.scan_tree(self.work)
        for number, text in enumerate(texts):
            hits += scanner.scan_text(f"captured text {number}", text)
        return hits

    @staticmethod
    async def prefect_credential_hits() -> list[Hit]:
        """Where the planted credentials show up in the Prefect server's logs, artifacts,
        flow and task runs (not in its blocks, which hold them by design)."""
        from prefect.client.orchestration import get_client

        scanner = SecretScanner({"aws_secret_access_key": SECRET_ACCESS_KEY})
        async with get_client() as client:
            return await scanner.scan_prefect(client)


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
    yield Bucket(name, f"s3://{name}", tmp_path / "work", s3_endpoint)
    storage.use_credentials(None)
