"""A segment file (Parquet or CSV) read from an object store (moto's S3 on localhost)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs

from mmapi.audience.extract import extract_segment
from mmapi.campaign import SegmentSource
from mmapi.errors import ExtractError


def test_segment_files_on_s3_are_extracted_like_local_ones(bucket, tmp_path: Path):
    fs = s3fs.S3FileSystem(use_listings_cache=False)
    table = pa.table({"phone": ["+4915112345678", "015112345679"], "first_name": ["A", "B"]})
    with fs.open(f"{bucket.name}/segments/spring.parquet", "wb") as handle:
        pq.write_table(table, handle)
    fs.pipe(f"{bucket.name}/segments/spring.csv", b"phone,coupon\n015112345679,00123\n")

    parquet = extract_segment(
        SegmentSource(path=f"{bucket.url}/segments/spring.parquet"), tmp_path / "a.parquet"
    )
    csv = extract_segment(
        SegmentSource(path=f"{bucket.url}/segments/spring.csv"), tmp_path / "b.parquet"
    )

    assert (parquet.rows, csv.rows) == (2, 1)
    assert pq.read_table(tmp_path / "a.parquet").equals(table)
    # CSV columns stay text, so a coupon keeps its leading zeros.
    assert pq.read_table(tmp_path / "b.parquet").to_pylist() == [
        {"phone": "015112345679", "coupon": "00123"}
    ]
    with pytest.raises(ExtractError, match="not found"):
        extract_segment(
            SegmentSource(path=f"{bucket.url}/segments/missing.parquet"), tmp_path / "c.parquet"
        )
