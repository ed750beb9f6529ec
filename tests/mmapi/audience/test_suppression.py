"""Suppression: landed opt-outs and failures, user lists, and their priority."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmapi.audience import SuppressionList
from mmapi.campaign import SuppressionSpec
from mmapi.errors import SpecError
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
