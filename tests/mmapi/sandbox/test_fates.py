"""After a flush: one fate per message, events that match it, and webhooks as Meta sends them."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson

from mmapi.models import SendResponse
from mmapi.sandbox import DEFAULT_WEBHOOK_SECRET, MemorySink
from mmapi.settings import WEBHOOK_SIGNATURE_HEADER
from mmapi.webhooks import WebhookPayload, verify_signature

from .helpers import Sandbox, SandboxFactory, open_sandbox, order_update, spring_sale

# Everything that can happen, often enough to happen in a few hundred messages.
BUSY = {
    "p_invalid_number": 0.04,
    "p_opted_out": 0.04,
    "p_user_limit": 0.04,
    "p_131000": 0.03,
    "p_held": 0.1,
    "p_duplicate": 0.2,
    "p_late": 0.3,
    "p_skip_delivered": 0.2,
    "p_stop_after_read": 0.1,
    "p_resume_after_stop": 0.5,
    "p_click": 0.5,
    "p_multi_entry": 0.5,
    "include_conversation": True,
}


def winback(to: str) -> dict[str, Any]:
    return {
        "to": to,
        "type": "template",
        "template": {
            "name": "winback_offer",
            "language": {"code": "en"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Ana"},
                        {
                            "type": "currency",
                            "currency": {
                                "fallback_value": "€10",
                                "code": "EUR",
                                "amount_1000": 10_000,
                            },
                        },
                        {"type": "date_time", "date_time": {"fallback_value": "May 31"}},
                    ],
                }
            ],
        },
    }


async def _send_mix(sb: Sandbox, count: int) -> None:
    for i in range(count):
        to = f"+49151{i:08d}"
        body = spring_sale(to) if i % 3 else winback(to)
        answer = await sb.send(body, mm=i % 4 != 0)
        assert answer.status_code == 200, answer.text


def _statuses_by_wamid(truth: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in truth["events"]:
        if event["kind"] == "status" and not event["duplicate"]:
            found[event["wamid"]].append(event)
    return found


def assert_events_match_fates(truth: dict[str, Any]) -> None:
    """Each message has one fate, and its (non-duplicate) status events say the same."""
    by_wamid = _statuses_by_wamid(truth)
    wamids = {m["wamid"] for m in truth["messages"]}
    assert len(wamids) == len(truth["messages"])
    assert {e["wamid"] for e in truth["events"]} <= wamids
    for message in truth["messages"]:
        events = by_wamid.get(message["wamid"], [])
        names = Counter(e["status"] for e in events)
        assert all(n == 1 for n in names.values()), (message, events)
        fate = message["fate"]
        if fate == "read":
            assert names["read"] == 1
            assert "failed" not in names
        elif fate == "delivered":
            assert set(names) == {"sent", "delivered"}
        elif fate == "failed":
            assert names["failed"] == 1
            assert not {"delivered", "read"} & set(names)
            failed = next(e for e in events if e["status"] == "failed")
            assert failed["error_code"] == message["error_code"]
        elif fate == "expired":
            assert set(names) == {"sent"}
        else:
            assert fate == "dropped"
            assert set(names) == {"failed"}
            assert message["error_code"] == 132015
            assert message["message_status"] == "held_for_quality_assessment"


async def test_flush_every_message_has_one_fate_matching_events(
    open_sandbox: SandboxFactory,
) -> None:
    async with open_sandbox(**BUSY) as sb:
        await _send_mix(sb, 400)
        flushed = await sb.flush()
        assert flushed["pending"] == 0
        truth = await sb.ground_truth()
        assert len(truth["messages"]) == 400 == flushed["messages"]
        assert_events_match_fates(truth)
        fates = Counter(m["fate"] for m in truth["messages"])
        assert set(fates) == {"read", "delivered", "failed", "expired", "dropped"}
        codes = Counter(m["error_code"] for m in truth["messages"] if m["fate"] == "failed")
        assert {131026, 131049, 131050, 131000} <= set(codes)
        assert len(truth["events"]) == flushed["events_delivered"]


async def test_flush_webhooks_validate_sign_and_carry_the_ground_truth(
    open_sandbox: SandboxFactory,
) -> None:
    async with open_sandbox(**BUSY) as sb:
        await _send_mix(sb, 300)
        await sb.flush()
        truth = await sb.ground_truth()
        hooks = sb.sink.received
        seen: list[tuple[str, str, int]] = []
        clicks: list[str] = []
        entries_per_body = Counter()
        for hook in hooks:
            assert hook.headers["Content-Type"] == "application/json"
            signature = hook.headers[WEBHOOK_SIGNATURE_HEADER]
            assert verify_signature(hook.body, signature, DEFAULT_WEBHOOK_SECRET)
            assert not verify_signature(hook.body + b" ", signature, DEFAULT_WEBHOOK_SECRET)
            payload = WebhookPayload.model_validate_json(hook.body)
            entries_per_body[len(payload.entry)] += 1
            for status in payload.statuses():
                seen.append((status.id, status.status, int(status.timestamp.timestamp())))
                if status.status == "failed":
                    assert status.pricing is None
                    assert status.errors
                    assert status.errors[0].code
                else:
                    assert status.pricing is not None
                    assert status.pricing.pricing_model == "PMP"
                    assert status.pricing.category in {"marketing_lite", "marketing"}
            for entry in hook.json()["entry"]:
                for change in entry["changes"]:
                    for action in change["value"].get("user_actions", []):
                        assert "id" not in action
                        data = action["marketing_messages_link_click_data"]
                        assert data["click_component"] in {"cta", "body"}
                        clicks.append(data["click_id"])
                    for pref in change["value"].get("user_preferences", []):
                        assert change["field"] == "user_preferences"
                        assert pref["value"] in {"stop", "resume"}
        expected = [
            (e["wamid"], e["status"], e["ts"]) for e in truth["events"] if e["kind"] == "status"
        ]
        assert Counter(seen) == Counter(expected)
        assert sorted(clicks) == sorted(
            e["click_id"] for e in truth["events"] if e["kind"] == "click"
        )
        assert clicks
        assert entries_per_body[2] > 0  # some bodies come as several entries
        assert max(len(WebhookPayload.model_validate_json(h.body).statuses()) for h in hooks) > 1
        # Clicks come only from MM sends with activity sharing.
        mm = {m["wamid"] for m in truth["messages"] if m["route"] == "mm" and m["activity_sharing"]}
        assert {e["wamid"] for e in truth["events"] if e["kind"] == "click"} <= mm
        assert any(e["kind"] == "preference" for e in truth["events"])


async def test_flush_duplicates_flagged_and_order_disturbed(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox(**BUSY) as sb:
        await _send_mix(sb, 200)
        await sb.flush()
        truth = await sb.ground_truth()
        duplicates = [e for e in truth["events"] if e["duplicate"]]
        assert duplicates
        originals = {
            (e["wamid"], e["status"], e["ts"]) for e in truth["events"] if not e["duplicate"]
        }
        assert all((d["wamid"], d["status"], d["ts"]) in originals for d in duplicates)
        # Delivery order is not timestamp order for some message.
        last_ts: dict[str, int] = {}
        overtaken = 0
        for event in truth["events"]:
            if event["kind"] == "status":
                overtaken += event["ts"] < last_ts.get(event["wamid"], 0)
                last_ts[event["wamid"]] = max(event["ts"], last_ts.get(event["wamid"], 0))
        assert overtaken > 0
        # Some reads come without a delivered.
        by_wamid = _statuses_by_wamid(truth)
        assert any(
            {e["status"] for e in events} == {"sent", "read"} for events in by_wamid.values()
        )


async def test_ttl_expiry_means_no_delivery(open_sandbox: SandboxFactory) -> None:
    slow_phones = {
        "p_delivered_mm": 1.0,
        "p_read_mm": 1.0,
        "p_offline": 1.0,
        "offline_median_seconds": 2 * 86400.0,
        "offline_sigma": 0.01,
    }
    async with open_sandbox(**slow_phones) as sb:
        await sb.send(spring_sale("+4915100000001"))  # default TTL 30 days: two days is fine
        edit = await sb.client.post(
            "/v1/configs/templates",
            json={"name": "spring_sale", "language": "en", "message_send_ttl_seconds": 43_200},
        )
        assert edit.status_code == 200
        await sb.send(spring_sale("+4915100000002"))  # TTL 12 h: two days is too late
        await sb.flush()
        truth = await sb.ground_truth()
        first, second = truth["messages"]
        assert (first["fate"], first["ttl_seconds"]) == ("read", 2_592_000)
        assert (second["fate"], second["ttl_seconds"]) == ("expired", 43_200)
        statuses = _statuses_by_wamid(truth)
        assert [e["status"] for e in statuses[second["wamid"]]] == ["sent"]
        assert_events_match_fates(truth)


async def test_held_messages_dropped_or_sent_late(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox(p_held=1.0, p_held_dropped=1.0) as sb:
        answer = SendResponse.model_validate((await sb.send(spring_sale())).json())
        assert answer.message_status == "held_for_quality_assessment"
        assert (await sb.send(spring_sale(), mm=False)).json()["messages"][0][
            "message_status"
        ] == "accepted"  # held is an MM answer
        await sb.client.post("/sandbox/config", json={"p_held_dropped": 0.0})
        await sb.send(spring_sale())
        await sb.flush()
        truth = await sb.ground_truth()
        assert [m["fate"] == "dropped" for m in truth["messages"]] == [True, False, False]
        failed = [e for e in truth["events"] if e["status"] == "failed"]
        assert [e["error_code"] for e in failed] == [132015]
        assert_events_match_fates(truth)
        assert (await sb.stats())["held"] == 2


async def test_stopped_user_gets_131050_until_resume(open_sandbox: SandboxFactory) -> None:
    engaged = {
        "p_delivered_mm": 1.0,
        "p_read_mm": 1.0,
        "p_delivered_cloud": 1.0,
        "p_read_cloud": 1.0,
        "p_stop_after_read": 1.0,
    }
    async with open_sandbox(**engaged, p_resume_after_stop=0.0) as sb:
        await sb.send(spring_sale("+4915100000001"))
        await sb.flush()
        await sb.send(spring_sale("+4915100000001"))
        await sb.send(order_update("+4915100000001"), mm=False)  # utility is not marketing
        await sb.flush()
        truth = await sb.ground_truth()
        assert [m["fate"] for m in truth["messages"]] == ["read", "failed", "read"]
        assert truth["messages"][1]["error_code"] == 131050
        stops = [e for e in truth["events"] if e["kind"] == "preference"]
        # Only the first read led to a stop: stops are drawn for marketing messages only.
        assert [(e["status"], e["wa_id"]) for e in stops] == [("stop", "4915100000001")]
    async with open_sandbox(**engaged, p_resume_after_stop=1.0) as sb:
        await sb.send(spring_sale("+4915100000001"))
        await sb.flush()  # stop, then resume: both in the past now
        await sb.send(spring_sale("+4915100000001"))
        await sb.flush()
        truth = await sb.ground_truth()
        assert [m["fate"] for m in truth["messages"]] == ["read", "read"]


async def test_recipient_sets_and_hash_are_deterministic(open_sandbox: SandboxFactory) -> None:
    sets = {
        "invalid_numbers": {"4915100000001"},
        "opted_out_numbers": {"+4915100000002"},
        "user_limit_numbers": {"4915100000003"},
    }
    async with open_sandbox(**sets) as sb:
        for i in (1, 2, 3):
            await sb.send(spring_sale(f"+491510000000{i}"))
        await sb.flush()
        truth = await sb.ground_truth()
        assert [(m["fate"], m["error_code"]) for m in truth["messages"]] == [
            ("failed", 131026),
            ("failed", 131050),
            ("failed", 131049),
        ]
        assert all(e["status"] == "failed" for e in truth["events"])  # no sent before
    fates = []
    for _ in range(2):
        async with open_sandbox(seed=5, p_invalid_number=0.3, p_opted_out=0.3) as sb:
            for i in range(30):
                await sb.send(spring_sale(f"+4915200000{i:03d}"))
            fates.append([m["error_code"] for m in (await sb.ground_truth())["messages"]])
    assert fates[0] == fates[1]
    assert {131026, 131050} <= set(fates[0])


async def test_mm_delivers_more_than_cloud(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox(seed=2, route_marketing_via_mm_on_messages=False) as sb:
        for i in range(600):
            await sb.send(spring_sale(f"+4915300{i:06d}"), mm=i % 2 == 0)
        truth = await sb.ground_truth()
        rates = {}
        for route in ("mm", "cloud"):
            fates = [m["fate"] for m in truth["messages"] if m["route"] == route]
            rates[route] = sum(f in {"read", "delivered"} for f in fates) / len(fates)
        assert rates["mm"] > rates["cloud"]


async def test_webhook_retries_then_delivers(open_sandbox: SandboxFactory) -> None:
    sink = MemorySink(refuse_first=2)
    async with open_sandbox(sink=sink, webhook_retry_base_seconds=0.001) as sb:
        await sb.send(spring_sale())
        counters = await sb.flush()
        assert counters["retries"] == 2
        assert counters["failed_bodies"] == 0
        assert len((await sb.ground_truth())["events"]) == counters["events_delivered"] > 0


async def test_webhook_given_up_not_in_ground_truth(open_sandbox: SandboxFactory) -> None:
    sink = MemorySink(refuse_first=10**9)
    async with open_sandbox(
        sink=sink, webhook_max_attempts=2, webhook_retry_base_seconds=0.001
    ) as sb:
        await sb.send(spring_sale())
        counters = await sb.flush()
        assert counters["failed_bodies"] > 0
        assert counters["events_delivered"] == 0
        assert (await sb.ground_truth())["events"] == []


async def test_webhook_dir_rotating_ndjson(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    async with open_sandbox(sink=None, webhook_dir=hooks, webhook_file_max_lines=3) as sb:
        for i in range(10):
            await sb.send(spring_sale(f"+4915100000{i:03d}"))
        counters = await sb.flush()
        truth = await sb.ground_truth()
    files = sorted(hooks.glob("webhooks-*.ndjson"))
    lines = [line for path in files for line in path.read_bytes().splitlines()]
    assert len(lines) == counters["bodies_delivered"]
    assert len(files) == -(-len(lines) // 3)
    assert all(len(path.read_bytes().splitlines()) <= 3 for path in files)
    carried = sum(len(WebhookPayload.model_validate_json(line).statuses()) for line in lines)
    assert carried == sum(e["kind"] == "status" for e in truth["events"])


async def test_ground_truth_path_ndjson(tmp_path: Path) -> None:
    path = tmp_path / "truth.ndjson"
    async with open_sandbox(ground_truth_path=path) as sb:
        for i in range(5):
            await sb.send(spring_sale(f"+4915100000{i:03d}"))
        await sb.flush()
        truth = await sb.ground_truth()
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    messages = [r for r in records if r.pop("record") == "message"]
    assert messages == truth["messages"]
    assert len(records) - len(messages) == len(truth["events"])
