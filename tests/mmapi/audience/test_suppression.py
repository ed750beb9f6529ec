"""Suppression: landed opt-outs and failures, user lists, and their priority."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmapi.audience import SuppressionList
from mmapi.campaign import SuppressionSpec
from mmapi.errors import SpecError, SuppressionListError
from mmapi.schemas import TIMESTAMP

NOW = datetime(2026, 5, 10, 12, tzinfo=UTC)


def _at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, tzinfo=UTC)


def write_preferences(events: Path, rows: list[tuple[str, str, datetime]], name: str = "a") -> None:
    folder = events / "preferences" / "dt=2026-05-01"
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "wa_id": [r[0] for r in rows],
            "value": [r[1] for r in rows],
            "ts": pa.array([r[2] for r in rows], TIMESTAMP),
        }
    )
    pq.write_table(table, folder / f"{name}.parquet")


def write_statuses(events: Path, rows: list[tuple[str, int | None, datetime]]) -> None:
    folder = events / "statuses"
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "wamid": [f"wamid.{i}" for i in range(len(rows))],
            "status": ["failed"] * len(rows),
            "recipient_id": [r[0] for r in rows],
            "error_code": pa.array([r[1] for r in rows], pa.int64()),
            "ts": pa.array([r[2] for r in rows], TIMESTAMP),
        }
    )
    pq.write_table(table, folder / "part-0.parquet")


def _reasons(suppression: SuppressionList) -> dict[str, str]:
    return dict(zip(suppression.recipient.to_pylist(), suppression.reason.to_pylist(), strict=True))


def test_suppression_latest_preference_wins(tmp_path):
    write_preferences(
        tmp_path,
        [
            ("4915100000001", "stop", _at(1)),
            ("4915100000002", "stop", _at(1)),
            ("4915100000002", "resume", _at(2)),  # resumed: may receive again
            ("4915100000003", "resume", _at(1)),
            ("+49 15100000003", "stop", _at(3)),  # a later stop, written with a '+'
        ],
    )
    write_preferences(
        tmp_path,
        [("4915100000004", "resume", _at(1)), ("4915100000004", "stop", _at(1))],
        name="tie",
    )

    suppression = SuppressionList.load(
        SuppressionSpec(events_dir=str(tmp_path)), default_region="DE"
    )

    assert _reasons(suppression) == {
        "4915100000001": "suppressed_stop",
        "4915100000003": "suppressed_stop",
        "4915100000004": "suppressed_stop",
    }


def test_suppression_failures_131050_always_and_131049_within_the_window(tmp_path):
    write_statuses(
        tmp_path,
        [
            ("4915100000010", 131050, _at(1)),
            ("4915100000011", 131049, _at(10, 6)),  # 6 h ago: inside a 24 h window
            ("4915100000012", 131049, _at(8)),  # 60 h ago: outside
            ("4915100000013", 131026, _at(10)),  # undeliverable: not a suppression
            ("4915100000014", None, _at(10)),
        ],
    )

    with_window = SuppressionList.load(
        SuppressionSpec(events_dir=str(tmp_path), user_limit_hours=24), default_region="DE", now=NOW
    )
    without = SuppressionList.load(SuppressionSpec(events_dir=str(tmp_path)), default_region="DE")

    assert _reasons(with_window) == {
        "4915100000010": "suppressed_131050",
        "4915100000011": "suppressed_131049",
    }
    assert _reasons(without) == {"4915100000010": "suppressed_131050"}


def test_suppression_list_files_are_normalised(tmp_path):
    (tmp_path / "list.csv").write_text(
        "recipient,note\n0151 00000020,x\n+49 151 00000021,y\nnope,z\n"
    )
    pq.write_table(pa.table({"number": ["+4915100000022"]}), tmp_path / "list.parquet")

    suppression = SuppressionList.load(
        SuppressionSpec(list_path=str(tmp_path / "list.csv")),
        default_region="DE",
        list_paths=[tmp_path / "list.parquet"],
    )

    assert set(_reasons(suppression)) == {"4915100000020", "4915100000021", "4915100000022"}
    assert suppression.unreadable == 1
    assert suppression.counts["suppressed_list"] == 3


def test_suppression_first_reason_wins_and_lookup(tmp_path):
    write_preferences(tmp_path, [("4915100000030", "stop", _at(1))])
    write_statuses(tmp_path, [("4915100000030", 131050, _at(1)), ("4915100000031", 131050, _at(1))])
    (tmp_path / "list.csv").write_text("recipient\n+4915100000031\n+4915100000032\n")

    suppression = SuppressionList.load(
        SuppressionSpec(events_dir=str(tmp_path), list_path=str(tmp_path / "list.csv")),
        default_region="DE",
    )
    found = suppression.reasons_for(
        pa.array(["4915100000030", "4915100000031", "4915100000032", "1"])
    )

    assert found.to_pylist() == ["suppressed_stop", "suppressed_131050", "suppressed_list", None]
    assert suppression.counts == {
        "suppressed_stop": 1,
        "suppressed_131050": 2,
        "suppressed_list": 2,
        "suppressed_131049": 0,
    }


def test_suppression_empty_events_folder_is_fine(tmp_path):
    suppression = SuppressionList.load(
        SuppressionSpec(events_dir=str(tmp_path)), default_region="DE"
    )

    assert len(suppression) == 0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (SuppressionSpec(events_dir="/nonexistent/events"), "events folder"),
        (SuppressionSpec(list_path="/nonexistent/list.csv"), "not found"),
    ],
)
def test_suppression_missing_source_is_an_error(spec, message):
    with pytest.raises(SpecError, match=message):
        SuppressionList.load(spec, default_region="DE")


def test_suppression_list_needs_a_recipient_column(tmp_path):
    pq.write_table(pa.table({"a": ["1"], "b": ["2"]}), tmp_path / "list.parquet")

    with pytest.raises(SpecError, match="'recipient' column or a single column"):
        SuppressionList.load(
            SuppressionSpec(list_path=str(tmp_path / "list.parquet")), default_region="DE"
        )


def _load_list(path: Path) -> SuppressionList:
    return SuppressionList.load(SuppressionSpec(list_path=str(path)), default_region="DE")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("list.csv", b"", "is empty"),
        ("list.csv", "recipient\nJosé,+4915100000040\n".encode("latin-1"), "line 2: not UTF-8"),
        ("list.csv", "recipient\n+4915100000040\n".encode("utf-16"), "UTF-16"),
        ("list.csv", "recipient\n+4915100000040\n".encode("utf-16-le"), "NUL bytes"),
        ("list.csv", b"recipient\nemail\na@example.com\nb@example.com\n", "no"),
        ("list.csv", b"id,email\n1,a@example.com\n", "found id, email"),
        ("list.parquet", bytes(range(256)) * 8, "not a Parquet file"),
        ("list.csv.gz", b"not gzip at all", "cannot read"),
        ("list.xlsx", b"PK\x03\x04 a spreadsheet", "not a Parquet file"),
    ],
    ids=[
        "empty",
        "latin-1",
        "utf-16",
        "utf-16-without-bom",
        "no-numbers",
        "missing-column",
        "binary-parquet",
        "bad-gzip",
        "spreadsheet",
    ],
)
def test_suppression_list_bad_file_is_one_error_naming_it(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)

    with pytest.raises(SuppressionListError) as caught:
        _load_list(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert reason in message
    assert "\n" not in message


def test_suppression_list_with_only_non_numbers_names_the_file(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("recipient\na@example.com\nb@example.com\n")

    # The wrong column would switch suppression off without a word: refused instead.
    with pytest.raises(SuppressionListError, match=r"none of its 2 entries is a phone number"):
        _load_list(path)


def test_suppression_list_column_of_wrong_type_names_the_column(tmp_path):
    path = tmp_path / "list.parquet"
    pq.write_table(pa.table({"recipient": pa.array([1, 2], pa.date32())}), path)

    with pytest.raises(SuppressionListError, match=r"column 'recipient' is date32"):
        _load_list(path)


def test_suppression_list_duplicates_and_encodings_that_work(tmp_path):
    with_bom = tmp_path / "excel.csv"
    with_bom.write_bytes("recipient\n+49 151 00000050\n".encode("utf-8-sig"))
    duplicates = tmp_path / "dups.csv"
    duplicates.write_text("recipient\n+4915100000051\n+49 151 00000051\n015100000051\n")
    no_header = tmp_path / "no_header.csv.gz"
    no_header.write_bytes(gzip.compress(b"+4915100000052\n0151 00000053\n"))
    digits = tmp_path / "digits.parquet"
    pq.write_table(pa.table({"wa_id": [4915100000054, 4915100000054]}), digits)

    suppression = SuppressionList.load(
        SuppressionSpec(list_path=str(with_bom)),
        default_region="DE",
        list_paths=[duplicates, no_header, digits],
    )

    assert sorted(_reasons(suppression)) == [f"49151000000{n}" for n in range(50, 55)]
    assert suppression.unreadable == 0


def test_suppression_list_over_the_size_cap_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "list.csv"
    path.write_text("recipient\n" + "+4915100000060\n" * 200)
    monkeypatch.setattr("mmapi.audience.suppression.MAX_SUPPRESSION_LIST_BYTES", 1024)

    with pytest.raises(SuppressionListError, match=r"3,010 bytes, over the 1,024 bytes limit"):
        _load_list(path)


def test_suppression_list_gzip_that_unpacks_past_the_cap_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "list.csv.gz"
    path.write_bytes(gzip.compress(b"recipient\n" + b"+4915100000061\n" * 400_000))
    monkeypatch.setattr("mmapi.audience.suppression.MAX_SUPPRESSION_LIST_BYTES", 2 << 20)
    assert path.stat().st_size < 2 << 20  # small on disk, 6 MB unpacked

    with pytest.raises(SuppressionListError, match=r"unpacks to over 2\.0 MiB"):
        _load_list(path)
