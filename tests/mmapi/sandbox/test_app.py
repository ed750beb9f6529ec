"""The sandbox's HTTP answers: keys, validation, template checks, routing, limits and faults."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from mmapi.errors import RateLimitError, classify
from mmapi.models import SendResponse, parse_error_body
from mmapi.settings import D360_RATE_LIMIT_TEXT
from mmapi.templates import TemplateInfo

from .helpers import SandboxFactory, order_update, spring_sale


def _wrapped_error(answer: httpx.Response) -> dict[str, Any]:
    """The Meta error inside 360dialog's `{"detail": {"error": ...}}` wrapping."""
    return answer.json()["detail"]["error"]


async def test_send_bad_key_401(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox() as sb:
        for path in ("/marketing_messages", "/messages", "/v1/configs/templates"):
            method = "GET" if "templates" in path else "POST"
            answer = await sb.client.request(
                method, path, json=spring_sale(), headers={"D360-API-KEY": "wrong"}
            )
            assert answer.status_code == 401
            assert answer.json() == {"error": "Invalid api token."}
        missing = await sb.client.post(
            "/marketing_messages", json=spring_sale(), headers={"D360-API-KEY": ""}
        )
        assert missing.status_code == 401
        assert parse_error_body(missing.content).title == "Invalid api token."
        assert (await sb.stats())["unauthorized"] == 3  # send requests only


async def test_send_valid_answer_shape(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox() as sb:
        answer = await sb.send(spring_sale("+4915100000001"))
        assert answer.status_code == 200
        parsed = SendResponse.model_validate(answer.json())
        assert parsed.wamid.startswith("wamid.")
        assert parsed.message_status == "accepted"
        assert answer.json()["contacts"] == [{"input": "+4915100000001", "wa_id": "4915100000001"}]
        second = SendResponse.model_validate((await sb.send(spring_sale())).json())
        assert second.wamid != parsed.wamid


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_without(spring_sale(), "template"), "template"),
        (_without(spring_sale(), "to"), "to"),
        ({**spring_sale(), "ttl_seconds": 3600}, "ttl_seconds"),
        (
            {
                **spring_sale(),
                "template": {
                    "name": "spring_sale",
                    "language": {"code": "en", "policy": "fallback"},
                },
            },
            "template.language.policy",
        ),
        ({**spring_sale(), "type": "text"}, "type"),
        (spring_sale(to="0049 151 1234"), "to"),
        ({**spring_sale(), "product_policy": "sometimes"}, "product_policy"),
    ],
    ids=[
        "missing_template",
        "missing_to",
        "unknown_field",
        "language_policy",
        "type",
        "phone",
        "policy",
    ],
)
async def test_send_validation_error_names_field(
    open_sandbox: SandboxFactory, body: dict[str, Any], field: str
) -> None:
    async with open_sandbox() as sb:
        answer = await sb.send(body)
        assert answer.status_code == 400
        error = _wrapped_error(answer)
        assert error["code"] == 100
        assert error["type"] == "OAuthException"
        assert error["fbtrace_id"]
        assert error["error_data"]["details"].startswith(f"{field}:")
        parsed = parse_error_body(answer.content)
        assert parsed.code == 100
        assert field in (parsed.details or "")
        # On /messages the same error comes in Meta's plain shape.
        plain = await sb.send(body, mm=False)
        assert plain.status_code == 400
        assert plain.json()["error"]["code"] == 100


async def test_send_invalid_json_400(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox() as sb:
        answer = await sb.client.post("/marketing_messages", content=b"{not json")
        assert answer.status_code == 400
        assert parse_error_body(answer.content).code == 100


async def test_send_unknown_template_404_132001(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox() as sb:
        body = spring_sale()
        body["template"]["name"] = "no_such_template"
        answer = await sb.send(body, mm=False)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == 132001
        wrong_language = spring_sale()
        wrong_language["template"]["language"]["code"] = "de"
        answer = await sb.send(wrong_language)
        assert answer.status_code == 404
        assert parse_error_body(answer.content).code == 132001


async def test_send_wrong_param_count_132000(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox() as sb:
        body = spring_sale()
        body["template"]["components"][1]["parameters"].pop()
        answer = await sb.send(body)
        assert answer.status_code == 400
        error = _wrapped_error(answer)
        assert error["code"] == 132000
        assert "(1)" in error["error_data"]["details"]
        assert "(2)" in error["error_data"]["details"]


async def test_send_utility_on_mm_134100_but_fine_on_cloud(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox() as sb:
        answer = await sb.send(order_update())
        assert answer.status_code == 400
        assert _wrapped_error(answer)["code"] == 134100
        assert (await sb.send(order_update(), mm=False)).status_code == 200
        truth = await sb.ground_truth()
        assert [m["pricing_category"] for m in truth["messages"]] == ["utility"]
        assert truth["messages"][0]["route"] == "cloud"


async def test_send_during_ad_sync_134101(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox(ad_sync_seconds=0.3) as sb:
        assert (await sb.send(spring_sale())).status_code == 200
        edit = await sb.client.post(
            "/v1/configs/templates",
            json={
                "name": "spring_sale",
                "language": "en",
                "category": "MARKETING",
                "message_send_ttl_seconds": 86_400,
            },
        )
        assert edit.status_code == 200
        assert edit.json() == {
            "id": "1000000000000001",
            "status": "APPROVED",
            "category": "MARKETING",
        }
        answer = await sb.send(spring_sale())
        assert answer.status_code == 400
        assert _wrapped_error(answer)["code"] == 134101
        # Ad sync is an MM matter: /messages goes on.
        assert (await sb.send(spring_sale(), mm=False)).status_code == 200
        await asyncio.sleep(0.35)
        assert (await sb.send(spring_sale())).status_code == 200
        truth = await sb.ground_truth()
        assert [m["ttl_seconds"] for m in truth["messages"]] == [2_592_000, 86_400, 86_400]


async def test_templates_listing_reads_as_template_info(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox() as sb:
        listing = (await sb.client.get("/v1/configs/templates")).json()
        assert listing["count"] == len(listing["waba_templates"]) == 3
        infos = {row["name"]: TemplateInfo.model_validate(row) for row in listing["waba_templates"]}
        assert infos["spring_sale"].body_parameter_count == 2
        assert infos["spring_sale"].header_format == "IMAGE"
        assert infos["winback_offer"].body_parameter_count == 3
        assert infos["order_update"].category == "UTILITY"
        assert infos["spring_sale"].ttl_seconds == 2_592_000


@pytest.mark.parametrize("ttl", [3600, 2_592_001, "86400", True])
async def test_templates_bad_ttl_400_names_field(open_sandbox: SandboxFactory, ttl: Any) -> None:
    async with open_sandbox() as sb:
        answer = await sb.client.post(
            "/v1/configs/templates",
            json={"name": "spring_sale", "language": "en", "message_send_ttl_seconds": ttl},
        )
        assert answer.status_code == 400
        parsed = parse_error_body(answer.content)
        assert parsed.code == 100
        assert (parsed.details or "").startswith("message_send_ttl_seconds")


async def test_templates_create_new_template(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox(ad_sync_seconds=5.0) as sb:
        created = await sb.client.post(
            "/v1/configs/templates",
            json={
                "name": "flash_sale",
                "language": "de",
                "category": "MARKETING",
                "components": [{"type": "BODY", "text": "Nur heute: {{1}}"}],
            },
        )
        assert created.status_code == 200
        body = spring_sale()
        body["template"] = {
            "name": "flash_sale",
            "language": {"code": "de"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "-30%"}]}],
        }
        answer = await sb.send(body)
        assert _wrapped_error(answer)["code"] == 134101  # just created: in ad sync


async def test_send_not_onboarded_strict_134102(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox(onboarded=False) as sb:
        answer = await sb.send(spring_sale(product_policy="STRICT"))
        assert answer.status_code == 500
        assert _wrapped_error(answer)["code"] == 134102


async def test_send_not_onboarded_fallback_priced_marketing(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox(onboarded=False, p_delivered_cloud=1.0) as sb:
        assert (await sb.send(spring_sale(product_policy="CLOUD_API_FALLBACK"))).status_code == 200
        assert (await sb.send(spring_sale())).status_code == 200  # no policy = fallback
        await sb.flush()
        truth = await sb.ground_truth()
        assert {(m["route"], m["pricing_category"]) for m in truth["messages"]} == {
            ("cloud", "marketing")
        }
        categories = {
            status.get("pricing", {}).get("category")
            for hook in sb.sink.received
            for status in hook.json()["entry"][0]["changes"][0]["value"].get("statuses", [])
        }
        assert categories == {"marketing"}


@pytest.mark.parametrize(
    ("routing", "route", "category"),
    [(True, "mm", "marketing_lite"), (False, "cloud", "marketing")],
)
async def test_messages_routing_sets_pricing_category(
    open_sandbox: SandboxFactory, routing: bool, route: str, category: str
) -> None:
    async with open_sandbox() as sb:
        changed = await sb.client.post(
            "/sandbox/config", json={"route_marketing_via_mm_on_messages": routing}
        )
        assert changed.json()["route_marketing_via_mm_on_messages"] is routing
        assert (await sb.send(spring_sale(), mm=False)).status_code == 200
        message = (await sb.ground_truth())["messages"][0]
        assert (message["endpoint"], message["route"], message["pricing_category"]) == (
            "messages",
            route,
            category,
        )


async def test_rate_limit_130429_and_max_1s_count(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox(rate_limit_mps=50.0) as sb:
        started = time.monotonic()
        answers = await asyncio.gather(*(sb.send(spring_sale()) for _ in range(100)))
        elapsed = time.monotonic() - started
        codes = [a.status_code for a in answers]
        limited = [a for a in answers if a.status_code == 400]
        assert limited
        assert all(_wrapped_error(a)["code"] == 130429 for a in limited)
        assert classify(400, 130429, "") is RateLimitError
        # Within one second the window admits the rate plus its 10% burst: 55.
        assert elapsed < 1.0
        assert codes.count(200) == 55
        stats = await sb.stats()
        assert stats["max_1s_count"] == 100
        assert stats["rejected"]["130429"] == len(limited)
        assert sum(stats["per_second"].values()) == 100


async def test_d360_rate_limit_text(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox(d360_rate_limit_mps=10.0) as sb:
        answers = [await sb.send(spring_sale()) for _ in range(15)]
        limited = [a for a in answers if a.status_code == 400]
        assert len(limited) == 4  # 11 admitted in one second: 10 mps with a 10% burst
        parsed = parse_error_body(limited[0].content)
        assert parsed.code is None
        assert D360_RATE_LIMIT_TEXT in parsed.title.lower()
        assert classify(400, None, parsed.title) is RateLimitError
        assert (await sb.stats())["d360_rate_limited"] == 4


async def test_fault_500_not_accepted(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox(p_500=1.0) as sb:
        answer = await sb.send(spring_sale())
        assert answer.status_code == 500
        assert _wrapped_error(answer)["code"] == 131000
        assert (await sb.ground_truth())["messages"] == []
        assert (await sb.stats())["faults"] == {"http_500": 1}


async def test_fault_hang_answers_late_but_accepts(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox(p_hang=1.0, hang_seconds=0.3) as sb:
        started = time.monotonic()
        answer = await sb.send(spring_sale())
        assert time.monotonic() - started >= 0.3
        assert answer.status_code == 200
        assert len((await sb.ground_truth())["messages"]) == 1
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sb.send(spring_sale()), 0.05)


async def test_fault_accept_then_drop_disconnects(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox(p_accept_then_drop=1.0) as sb:
        with pytest.raises(httpx.RemoteProtocolError):
            await sb.send(spring_sale())
        await sb.flush()
        truth = await sb.ground_truth()
        assert len(truth["messages"]) == 1
        assert any(e["wamid"] == truth["messages"][0]["wamid"] for e in truth["events"])


async def test_faults_switch_at_run_time(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox() as sb:
        assert (await sb.send(spring_sale())).status_code == 200
        assert (await sb.client.post("/sandbox/config", json={"p_500": 1.0})).status_code == 200
        assert (await sb.send(spring_sale())).status_code == 500
        assert (
            await sb.client.post("/sandbox/config", json={"p_500": 0.0, "latency_ms": 50})
        ).json()["latency_ms"] == 50
        assert (await sb.send(spring_sale())).status_code == 200
        refused = await sb.client.post("/sandbox/config", json={"seed": 3})
        assert refused.status_code == 400
        assert "seed" in refused.json()["error"]
        invalid = await sb.client.post("/sandbox/config", json={"p_hang": 2})
        assert invalid.status_code == 400
        assert "p_hang" in invalid.json()["error"]


async def test_reset_stats(open_sandbox: SandboxFactory) -> None:
    async with open_sandbox() as sb:
        await sb.send(spring_sale())
        assert (await sb.stats())["requests"] == 1
        await sb.client.post("/sandbox/reset_stats")
        stats = await sb.stats()
        assert (stats["requests"], stats["max_1s_count"], stats["messages"]) == (0, 0, 1)
