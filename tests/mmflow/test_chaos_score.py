"""The chaos run's scoring: each check finds the fault it is meant to find."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmflow.chaos import ChaosError, ChaosSettings, run_chaos
from mmflow.chaos.score import score_run

TS = 1_800_000_000


def _message(wamid: str, wa_id: str, *, mm: bool = True, fate: str = "read") -> dict[str, Any]:
    endpoint = "marketing_messages" if mm else "messages"
    return {"record": "message", "wamid": wamid, "wa_id": wa_id, "endpoint": endpoint, "fate": fate}


def _status(wamid: str, status: str) -> dict[str, Any]:
    return {"record": "event", "kind": "status", "wamid": wamid, "status": status, "ts": TS}


def _write(
    tmp_path: Path, truth: list[dict], statuses: list[tuple[str, str]], report: list[tuple]
) -> dict[str, Path]:
    paths = {
        "truth": tmp_path / "truth.ndjson",
        "plan": tmp_path / "plan.parquet",
        "events": tmp_path / "events",
        "report": tmp_path / "analytics.duckdb",
        "sends": tmp_path / "sends.parquet",
    }
    paths["truth"].write_bytes(b"\n".join(orjson.dumps(r) for r in truth) + b"\n")
    pq.write_table(
        pa.table({"recipient": ["491", "492", "493"], "arm": ["mm", "mm", "cloud"]}), paths["plan"]
    )
    folder = paths["events"] / "statuses" / "dt=2027-01-15"
    folder.mkdir(parents=True)
    pq.write_table(
        pa.table({"wamid": [w for w, _ in statuses], "status": [s for _, s in statuses]}),
        folder / "part-0.parquet",
    )
    with duckdb.connect(str(paths["report"])) as db:
        db.execute(
            "CREATE TABLE message_status (wamid VARCHAR, arm VARCHAR, final_status VARCHAR, "
            "in_ledger BOOLEAN)"
        )
        db.executemany("INSERT INTO message_status VALUES (?, ?, ?, TRUE)", report)
    pq.write_table(pa.table({"attempts": [1, 2, 1]}), paths["sends"])
    return paths


def _clean_truth() -> list[dict[str, Any]]:
    return [
        _message("w1", "491"),
        _message("w2", "492", fate="delivered"),
        _message("w3", "493", mm=False, fate="dropped"),
        _status("w1", "sent"),
        _status("w1", "read"),
        _status("w3", "failed"),
    ]


REPORT = [("w1", "mm", "read"), ("w2", "mm", "delivered"), ("w3", "cloud", "failed")]
LANDED = [("w1", "sent"), ("w1", "read"), ("w3", "failed")]


def test_score_clean_run_all_zero(tmp_path: Path) -> None:
    score = score_run(**_write(tmp_path, _clean_truth(), LANDED, REPORT))
    assert score["send"] == {
        "planned": 3,
        "sent_twice": 0,
        "never_sent": 0,
        "sent_outside_plan": 0,
        "wrong_endpoint": 0,
    }
    assert score["webhooks"]["acked_missing"] == score["webhooks"]["landed_twice"] == 0
    assert all(c["truth"] == c["report"] for c in score["report_cells"])
    assert score["report"] == {"wrong_status": 0, "not_in_report": 0}
    assert score["ledger_claims"] == 4


def test_score_finds_each_fault(tmp_path: Path) -> None:
    truth = [
        *_clean_truth()[:2],  # 493 never sent
        _message("w4", "491"),  # 491 sent twice
        _message("w5", "499"),  # a recipient outside the plan
        _message("w6", "492", mm=False),  # 492 also sent to the other arm's endpoint
        _status("w1", "sent"),
        _status("w1", "read"),
        _status("w2", "delivered"),  # acknowledged, never landed
    ]
    landed = [("w1", "sent"), ("w1", "sent"), ("w1", "read")]  # one landed twice
    report = [("w1", "mm", "delivered"), ("w2", "mm", "delivered")]  # w1 is read in truth
    score = score_run(**_write(tmp_path, truth, landed, report))
    assert score["send"] == {
        "planned": 3,
        "sent_twice": 2,
        "never_sent": 1,
        "sent_outside_plan": 1,
        "wrong_endpoint": 1,
    }
    assert score["webhooks"]["acked_missing"] == 1
    assert score["webhooks"]["landed_twice"] == 1
    assert sum(abs(c["truth"] - c["report"]) for c in score["report_cells"]) > 0
    assert score["report"]["wrong_status"] == 1
    assert score["report"]["not_in_report"] == 3  # w4, w5, w6


def test_chaos_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ChaosError, match="not made by a chaos run"):
        run_chaos(tmp_path, ChaosSettings(recipients=200))
    assert (tmp_path / "notes.txt").exists()
