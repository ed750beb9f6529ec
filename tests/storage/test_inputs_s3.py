"""Files people hand the pipeline, on an object store: a rate card, a suppression list.

Each is read from a fresh local copy, checked as a local file is, and named by its URL in
every message.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest

from mmapi.analytics.rates import DEFAULT_RATE_CARD_PATH, load_rate_card
from mmapi.audience.suppression import SuppressionList
from mmapi.campaign import SuppressionSpec
from mmapi.errors import RateCardError, SuppressionListError
from tests.secret_scan import format_hits


def test_a_rate_card_on_s3_reads_as_the_same_card_locally(bucket):
    bucket.fs.pipe_file(f"{bucket.name}/config/rates.csv", DEFAULT_RATE_CARD_PATH.read_bytes())

    assert load_rate_card(f"{bucket.url}/config/rates.csv").equals(load_rate_card())


def test_a_bad_or_missing_rate_card_on_s3_is_named_by_its_url(bucket, tmp_path: Path):
    url = f"{bucket.url}/config/rates.csv"
    bucket.fs.pipe_file(f"{bucket.name}/config/rates.csv", b"country,currency\nDE,EUR\n")

    with pytest.raises(RateCardError, match=rf"^{url}:1: rate card lacks column\(s\) ") as bad:
        load_rate_card(url)
    bucket.fs.pipe_file(
        f"{bucket.name}/config/rates.csv", "country\nBundesländer\n".encode("latin-1")
    )
    with pytest.raises(RateCardError, match=rf"^{url}: line 2: not UTF-8 text") as latin1:
        load_rate_card(url)
    with pytest.raises(
        FileNotFoundError, match=rf"^{bucket.url}/config/none.csv: rate card not found"
    ) as missing:
        load_rate_card(f"{bucket.url}/config/none.csv")
    messages = [str(error.value) for error in (bad, latin1, missing)]
    hits = bucket.credential_hits(tmp_path / "scan", *messages)
    assert not hits, format_hits(hits)


def test_a_suppression_list_on_s3_suppresses_its_numbers(bucket):
    csv_url = f"{bucket.url}/lists/optouts.csv"
    bucket.fs.pipe_file(f"{bucket.name}/lists/optouts.csv", b"recipient\n+49 151 23456789\n")

    suppressed = SuppressionList.load(SuppressionSpec(list_path=csv_url), default_region="DE")

    assert suppressed.recipient.to_pylist() == ["4915123456789"]
    assert pc.unique(suppressed.reason).to_pylist() == ["suppressed_list"]


def test_a_bad_or_missing_suppression_list_on_s3_is_named_by_its_url(bucket, tmp_path: Path):
    url = f"{bucket.url}/lists/optouts.csv"
    bucket.fs.pipe_file(f"{bucket.name}/lists/optouts.csv", b"email,name\na@b.example,A\n")

    with pytest.raises(SuppressionListError, match=rf"^{url}: give a 'recipient' column") as bad:
        SuppressionList.load(SuppressionSpec(list_path=url), default_region="DE")
    missing = f"{bucket.url}/lists/none.parquet"
    with pytest.raises(
        SuppressionListError, match=rf"^suppression list {missing} not found$"
    ) as absent:
        SuppressionList.load(SuppressionSpec(), default_region="DE", list_paths=[missing])
    hits = bucket.credential_hits(tmp_path / "scan", str(bad.value), str(absent.value))
    assert not hits, format_hits(hits)
