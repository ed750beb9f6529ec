"""Landing raw webhook files: flattening, deduplication, increments, formats and the outputs."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import fsspec
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from receiver.bodies import (
    PHONE_NUMBER_ID,
    TS,
    WABA_ID,
    account_update,
    body,
    change,
    click,
    dumps,
    failed,
    preference,
    status,
    statuses_body,
)

from mmapi.landing import OUTPUT_SCHEMAS, LandingConfig, LandingLock, Manifest, land
from mmapi.receiver import received_line

from .helpers import append_bytes, files, land_dir, rows, write_lines

DAY = 86_400


def _by_key(table: list[dict]) -> dict[tuple[str, str], dict]:
    return {(row["wamid"], row["status"]): row for row in table}


def test_land_several_statuses_and_entries_in_one_body(raw: Path, out: Path):
    conversation = {
        "id": "conv-1",
        "origin": {"type": "marketing"},
        "expiration_timestamp": TS + DAY,
    }
    two_entries = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    change(
                        statuses=[
                            status(
                                "wamid.A",
                                "sent",
                                conversation=conversation,
                                biz_opaque_callback_data="c=1",
                            ),
                            status("wamid.B", "delivered"),
                        ]
                    )
                ],
            },
            {
                "id": "999",
                "changes": [
                    change(statuses=[failed("wamid.C", code=131050)]),
                    change(statuses=[status("wamid.D", "read")]),
                ],
            },
        ],
    }
    write_lines(raw / "a.ndjson", [dumps(two_entries)])

    summary = land_dir(raw, out)

    landed = _by_key(rows(out, "statuses"))
    assert summary["statuses"] == 4
    assert set(landed) == {
        ("wamid.A", "sent"),
        ("wamid.B", "delivered"),
        ("wamid.C", "failed"),
        ("wamid.D", "read"),
    }
    sent = landed[("wamid.A", "sent")]
    assert sent["ts"] == datetime.fromtimestamp(TS, UTC)
    assert (sent["pricing_billable"], sent["pricing_model"], sent["pricing_type"]) == (
        True,
        "PMP",
        "regular",
    )
    assert sent["pricing_category"] == "marketing_lite"
    assert (sent["conversation_id"], sent["conversation_origin_type"]) == ("conv-1", "marketing")
    assert sent["conversation_expiration_ts"] == datetime.fromtimestamp(TS + DAY, UTC)
    assert sent["biz_opaque_callback_data"] == "c=1"
    assert (sent["phone_number_id"], sent["waba_id"]) == (PHONE_NUMBER_ID, WABA_ID)
    assert sent["source_file"] == str(raw / "a.ndjson")
    assert sent["received_at"] is None
    assert str(sent["dt"]) == "2025-06-15"
    failure = landed[("wamid.C", "failed")]
    assert failure["waba_id"] == "999"
    assert (failure["error_code"], failure["error_title"]) == (131050, "Not delivered")
    assert failure["error_message"] == "Not delivered to keep engagement healthy."
    assert failure["error_details"] == "per-user marketing limit"
    assert failure["pricing_billable"] is None


def test_land_out_of_order_events_land_in_their_event_day(raw: Path, out: Path):
    # read arrives first, a day after delivered; sent comes last of all.
    write_lines(
        raw / "a.ndjson",
        [
            dumps(statuses_body(status("wamid.A", "read", TS + DAY))),
            dumps(statuses_body(status("wamid.A", "delivered", TS + 60))),
            dumps(statuses_body(status("wamid.A", "sent", TS))),
        ],
    )

    land_dir(raw, out)

    by_status = {row["status"]: row for row in rows(out, "statuses")}
    assert {key: str(row["dt"]) for key, row in by_status.items()} == {
        "read": "2025-06-16",
        "delivered": "2025-06-15",
        "sent": "2025-06-15",
    }
    assert [p.parent.name for p in files(out, "statuses")] == ["dt=2025-06-15", "dt=2025-06-16"]


def test_land_same_event_twice_in_one_file_lands_once(raw: Path, out: Path):
    event = dumps(statuses_body(status("wamid.A", "delivered")))
    other = dumps(statuses_body(status("wamid.A", "read"), status("wamid.A", "delivered")))
    write_lines(raw / "a.ndjson", [event, event, other])

    summary = land_dir(raw, out)

    assert summary["status_events_read"] == 4
    assert sorted((r["wamid"], r["status"]) for r in rows(out, "statuses")) == [
        ("wamid.A", "delivered"),
        ("wamid.A", "read"),
    ]


def test_land_duplicate_keeps_the_first_received(raw: Path, out: Path):
    item = statuses_body(status("wamid.A", "delivered"))
    late = received_line(dumps(item), received_at=datetime(2025, 6, 15, 16, tzinfo=UTC), headers={})
    early = received_line(
        dumps(item), received_at=datetime(2025, 6, 15, 15, 7, tzinfo=UTC), headers={}
    )
    (raw / "a.ndjson").write_bytes(late + early)

    land_dir(raw, out)

    [row] = rows(out, "statuses")
    assert row["received_at"] == datetime(2025, 6, 15, 15, 7, tzinfo=UTC)


def test_land_duplicates_without_receive_time_keep_the_first_by_file_and_place(
    raw: Path, out: Path
):
    # Copies of (wamid, status) whose payloads differ; the first by file name, then by place
    # in the file, wins, whatever their event times.
    def copy(wamid: str, ts: int, callback: str) -> bytes:
        return dumps(
            statuses_body(status(wamid, "delivered", ts, biz_opaque_callback_data=callback))
        )

    write_lines(
        raw / "a.ndjson",
        [copy("wamid.A", TS + 60, "a-first"), copy("wamid.A", TS, "a-second")],
    )
    write_lines(raw / "b.ndjson", [copy("wamid.B", TS, "b-first"), copy("wamid.C", TS, "b")])
    write_lines(raw / "c.ndjson", [copy("wamid.B", TS - 60, "c"), copy("wamid.C", TS, "c")])

    land_dir(raw, out)

    landed = {row["wamid"]: row["biz_opaque_callback_data"] for row in rows(out, "statuses")}
    assert landed == {"wamid.A": "a-first", "wamid.B": "b-first", "wamid.C": "b"}


def test_land_same_event_across_runs_lands_once(raw: Path, out: Path):
    event = dumps(statuses_body(status("wamid.A", "delivered")))
    write_lines(raw / "a.ndjson", [event])
    land_dir(raw, out)
    write_lines(raw / "b.ndjson", [event, dumps(statuses_body(status("wamid.B", "sent")))])

    second = land_dir(raw, out)

    assert second["statuses"] == 1
    assert sorted(r["wamid"] for r in rows(out, "statuses")) == ["wamid.A", "wamid.B"]


def test_land_rerun_on_the_same_input_adds_nothing(raw: Path, out: Path):
    write_lines(raw / "a.ndjson", [dumps(statuses_body(status("wamid.A", "sent"))), b"{bad"])
    first = land_dir(raw, out)
    again = land_dir(raw, out)
    (out / "events" / "_landing" / "manifest.json").unlink()

    forgotten = land_dir(raw, out)

    assert (first["statuses"], first["quarantined"]) == (1, 1)
    assert (again["files_read"], again["statuses"], again["quarantined"]) == (0, 0, 0)
    assert (forgotten["files_read"], forgotten["statuses"], forgotten["quarantined"]) == (1, 0, 0)
    assert len(rows(out, "statuses")) == 1
    assert len(rows(out, "quarantine")) == 1


def test_land_clicks_with_and_without_click_data(raw: Path, out: Path):
    view = {"action_type": "landing_page_view", "timestamp": str(TS + 5)}
    write_lines(
        raw / "a.ndjson",
        [
            dumps(
                body(
                    change(
                        user_actions=[
                            click(
                                "ARA1",
                                click_component="CTA",
                                product_id="sku-1",
                                client_user_agent="UA",
                            ),
                            click("ARA2", click_component="body"),
                        ]
                    )
                )
            ),
            dumps(body(change(user_actions=[view]))),
            dumps(body(change(user_actions=[click("ARA1", click_component="CTA")]))),
        ],
    )

    summary = land_dir(raw, out)

    clicks = {row["click_id"]: row for row in rows(out, "clicks")}
    assert summary["clicks"] == 3
    assert set(clicks) == {"ARA1", "ARA2", None}
    first = clicks["ARA1"]
    assert (first["click_component"], first["product_id"], first["client_user_agent"]) == (
        "cta",
        "sku-1",
        "UA",
    )
    assert (first["tracking_token"], first["action_type"]) == (
        "tok-ARA1",
        "marketing_messages_link_click",
    )
    assert first["ts"] == datetime.fromtimestamp(TS, UTC)
    assert (first["phone_number_id"], first["waba_id"]) == (PHONE_NUMBER_ID, WABA_ID)
    assert clicks[None]["action_type"] == "landing_page_view"


def test_land_stop_then_resume(raw: Path, out: Path):
    stop = preference("4915100000001", "stop", TS)
    resume = preference("4915100000001", "resume", TS + DAY)
    write_lines(
        raw / "a.ndjson",
        [
            dumps(body(change("user_preferences", user_preferences=[resume]))),
            dumps(body(change("user_preferences", user_preferences=[stop, stop]))),
        ],
    )

    land_dir(raw, out)

    landed = sorted(rows(out, "preferences"), key=lambda row: row["ts"])
    assert [(row["wa_id"], row["value"], str(row["dt"])) for row in landed] == [
        ("4915100000001", "stop", "2025-06-15"),
        ("4915100000001", "resume", "2025-06-16"),
    ]
    assert landed[0]["category"] == "marketing_messages"


def test_land_account_updates(raw: Path, out: Path):
    category = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "time": TS + 1,
                "changes": [
                    {
                        "field": "template_category_update",
                        "value": {
                            "message_template_id": "1000000000000001",
                            "message_template_name": "spring_sale",
                            "message_template_language": "en",
                            "previous_category": "UTILITY",
                            "new_category": "MARKETING",
                        },
                    }
                ],
            }
        ],
    }
    write_lines(
        raw / "a.ndjson", [dumps(account_update()), dumps(category), dumps(account_update())]
    )

    summary = land_dir(raw, out)

    updates = {row["field"]: row for row in rows(out, "account_updates")}
    assert summary["account_updates"] == 2
    terms = updates["account_update"]
    assert (terms["event"], terms["waba_id"]) == ("MM_LITE_TERMS_SIGNED", WABA_ID)
    assert terms["ts"] == datetime.fromtimestamp(TS, UTC)
    assert orjson.loads(terms["waba_info"]) == {"waba_id": WABA_ID}
    recategorized = updates["template_category_update"]
    assert (recategorized["message_template_name"], recategorized["new_category"]) == (
        "spring_sale",
        "MARKETING",
    )


def test_land_segment_still_being_written_lands_complete_lines_then_the_rest(raw: Path, out: Path):
    first = dumps(statuses_body(status("wamid.A", "sent")))
    second = dumps(statuses_body(status("wamid.B", "sent")))
    segment = raw / "webhooks-1.ndjson"
    segment.write_bytes(first + b"\n" + second[:30])

    before = land_dir(raw, out)
    manifest = Manifest.load(out / "events" / "_landing" / "manifest.json")
    append_bytes(segment, second[30:] + b"\n")
    after = land_dir(raw, out)

    assert (before["statuses"], before["quarantined"], after["statuses"]) == (1, 0, 1)
    assert manifest.get(str(segment)).offset == len(first) + 1
    assert sorted(r["wamid"] for r in rows(out, "statuses")) == ["wamid.A", "wamid.B"]
    assert Manifest.load(manifest.path).get(str(segment)).offset == segment.stat().st_size


def test_land_receiver_lines_keep_the_receive_time(raw: Path, out: Path):
    moment = datetime(2025, 6, 15, 15, 6, 41, 123456, tzinfo=UTC)
    line = received_line(
        dumps(statuses_body(status("wamid.A", "sent"))),
        received_at=moment,
        headers={"x-hub-signature-256": "sha256=ab"},
    )
    (raw / "webhooks-1.ndjson").write_bytes(line)

    land_dir(raw, out)

    [row] = rows(out, "statuses")
    assert row["received_at"] == moment


def test_land_gzip_json_documents_and_globs(raw: Path, out: Path):
    with gzip.open(raw / "export.ndjson.gz", "wb") as handle:
        handle.write(dumps(statuses_body(status("wamid.GZ", "sent"))) + b"\n")
    array = [
        statuses_body(status("wamid.ARR", "sent")),
        [1],
        statuses_body(status("wamid.ARR2", "read")),
    ]
    (raw / "export.json").write_bytes(dumps(array))
    (raw / "single.json.gz").write_bytes(
        gzip.compress(dumps(statuses_body(status("wamid.ONE", "read"))))
    )
    (raw / "ignored.txt").write_bytes(dumps(statuses_body(status("wamid.TXT", "read"))))

    summary = land_dir(raw, out)

    assert summary["files_found"] == 3
    assert sorted(r["wamid"] for r in rows(out, "statuses")) == [
        "wamid.ARR",
        "wamid.ARR2",
        "wamid.GZ",
        "wamid.ONE",
    ]
    [refused] = rows(out, "quarantine")
    assert (refused["source_offset"], refused["raw_line"]) == (1, b"[1]")
    assert "not a JSON object" in refused["reason"]
    globbed = land_dir(f"{raw}/*.txt", out)
    assert globbed["statuses"] == 1


def test_land_truncated_gzip_lands_what_is_complete(raw: Path, out: Path):
    lines = b"".join(dumps(statuses_body(status(f"wamid.{n}", "sent"))) + b"\n" for n in range(200))
    data = gzip.compress(lines)
    (raw / "part.ndjson.gz").write_bytes(data[: len(data) // 2])

    summary = land_dir(raw, out)

    assert 0 < summary["statuses"] < 200
    assert summary["quarantined"] == 0


def test_land_from_an_fsspec_url(out: Path):
    memory = fsspec.filesystem("memory")
    with memory.open("/landing-test/raw/a.ndjson", "wb") as handle:
        handle.write(dumps(statuses_body(status("wamid.MEM", "sent"))) + b"\n")

    summary = land_dir("memory://landing-test/raw", out)

    assert summary["statuses"] == 1
    assert rows(out, "statuses")[0]["source_file"] == "memory:///landing-test/raw/a.ndjson"


def test_land_lines_over_duckdbs_size_limit_are_quarantined(raw: Path, out: Path):
    huge = dumps(statuses_body(status("wamid.BIG", "sent", padding="x" * (34 << 20))))
    write_lines(raw / "a.ndjson", [dumps(statuses_body(status("wamid.OK", "sent"))), huge])

    summary = land_dir(raw, out)

    assert summary["statuses"] == 1
    [refused] = rows(out, "quarantine")
    assert "maximum_object_size" in refused["reason"]
    assert len(refused["raw_line"]) == len(huge)


def test_land_outputs_have_the_declared_schemas(raw: Path, out: Path):
    write_lines(
        raw / "a.ndjson",
        [
            dumps(statuses_body(failed("wamid.A"))),
            dumps(body(change(user_actions=[click("ARA1")]))),
            dumps(body(change("user_preferences", user_preferences=[preference("49", "stop")]))),
            dumps(account_update()),
            b"not json",
        ],
    )

    land_dir(raw, out)

    for table, schema in OUTPUT_SCHEMAS.items():
        [path] = files(out, table)
        assert pq.read_schema(path).remove_metadata() == schema, table
        stamp = schema.field("ts" if table != "quarantine" else "quarantined_at")
        assert stamp.type == pa.timestamp("us", tz="UTC")


def test_land_sandbox_campaign_matches_its_ground_truth(tmp_path: Path, out: Path):
    from mmapi.sandbox.generator import generate_webhook_files
    from mmapi.sandbox.groundtruth import EVENT_NAMES

    made = generate_webhook_files(tmp_path / "raw", messages=3000, seed=5, lines_per_file=400)

    summary = land_dir(tmp_path / "raw", out)

    truth = [made.truth.event_record(n) for n in range(made.truth.event_count)]
    statuses = {(e["wamid"], e["status"]) for e in truth if e["kind"] == "status"}
    clicks = {e["click_id"] for e in truth if e["kind"] == "click"}
    stops = {(e["wa_id"], e["status"], e["ts"]) for e in truth if e["kind"] == "preference"}
    assert len(made.files) > 1
    assert made.duplicates > 0
    assert summary["status_events_read"] == made.status_events
    assert {(r["wamid"], r["status"]) for r in rows(out, "statuses")} == statuses
    assert len(rows(out, "statuses")) == len(statuses)
    assert {r["click_id"] for r in rows(out, "clicks")} == clicks
    assert len(rows(out, "clicks")) == len(clicks)
    landed_stops = {
        (r["wa_id"], r["value"], int(r["ts"].timestamp())) for r in rows(out, "preferences")
    }
    assert landed_stops == stops
    assert summary["quarantined"] == 0
    assert set(EVENT_NAMES[:4]) >= {s for _, s in statuses}


def test_land_does_not_import_pandas(raw: Path, out: Path):
    # pyarrow imports pandas for `pa.array` of Python values, `to_numpy` or `is_in`'s value
    # set: half a second of a landing of a million events.
    write_lines(
        raw / "a.ndjson",
        [
            dumps(statuses_body(status("wamid.A", "sent"), status("wamid.A", "sent"))),
            dumps(statuses_body(status("wamid.B", "delivered", TS + 2 * DAY))),
            dumps(body(change(user_actions=[click("ARA1")]))),
            dumps(body(change(user_preferences=[preference("491511", "stop")]))),
        ],
    )
    code = (
        "import sys; from pathlib import Path; from mmapi.landing import LandingConfig, land; "
        "summary = land(LandingConfig(source=sys.argv[1], out=Path(sys.argv[2]))); "
        "print(summary.counts['statuses'], summary.counts['clicks'], 'pandas' in sys.modules)"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code, str(raw), str(out)], capture_output=True, text=True, check=True
    )

    assert done.stdout.split() == ["2", "1", "False"]


def test_land_refuses_a_second_run_on_the_same_output(raw: Path, out: Path):
    write_lines(raw / "a.ndjson", [dumps(statuses_body(status("wamid.A", "sent")))])
    lock = LandingLock(out / "events" / "_landing" / "lock")
    with lock, pytest.raises(BlockingIOError, match="another landing run"):
        land(LandingConfig(source=str(raw), out=out))
    assert land(LandingConfig(source=str(raw), out=out)).counts["statuses"] == 1


def test_land_missing_source_is_an_error(out: Path, tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        land(LandingConfig(source=str(tmp_path / "nowhere"), out=out))


def test_land_while_files_grow_lands_each_event_once(raw: Path, out: Path):
    segment = raw / "webhooks-1.ndjson"
    segment.touch()
    stop = threading.Event()

    def writer() -> None:
        for n in range(400):
            line = dumps(statuses_body(status(f"wamid.{n}", "sent")))
            append_bytes(segment, line[:25])
            append_bytes(segment, line[25:] + b"\n")
        stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    while not stop.is_set():
        land_dir(raw, out)
    thread.join()
    land_dir(raw, out)

    landed = [r["wamid"] for r in rows(out, "statuses")]
    assert sorted(landed) == sorted(f"wamid.{n}" for n in range(400))
    assert rows(out, "quarantine") == []
