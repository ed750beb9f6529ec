"""MMClient against httpx's MockTransport: requests as documented, answers mapped to errors."""

from __future__ import annotations

import httpx
import orjson
import pytest

from mmapi import (
    Action,
    AuthenticationError,
    CampaignStopError,
    ClientConfig,
    CloudMessageRequest,
    InvalidRequestError,
    MarketingMessageRequest,
    MMClient,
    OutcomeUnknownError,
    PermanentRecipientError,
    RateLimitError,
    RecipientDeferredError,
    RetryableError,
    TemplateInfo,
    TransportError,
    TTLValidationError,
)
from mmapi.settings import API_KEY_HEADER

API_KEY = "test-key-0123456789abcdef0123456789"


def _ok(request: httpx.Request) -> httpx.Response:
    body = orjson.loads(request.content)
    return httpx.Response(
        200,
        json={
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": "wamid.ABC", "message_status": "accepted"}],
        },
    )


def _client(handler, **config) -> MMClient:
    return MMClient(
        ClientConfig(api_key=API_KEY, base_url="http://mm.test", **config),
        transport=httpx.MockTransport(handler),
    )


def _mm_request(**fields) -> MarketingMessageRequest:
    return MarketingMessageRequest(
        to="4915112345678",
        template={"name": "spring_sale", "language": {"code": "en"}},
        **fields,
    )


async def test_send_marketing_message_posts_documented_body():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _ok(request)

    async with _client(handler) as client:
        answer = await client.send_marketing_message(
            _mm_request(product_policy="strict", message_activity_sharing=True)
        )
    assert answer.wamid == "wamid.ABC"
    assert answer.message_status == "accepted"
    request = seen[0]
    assert request.url.path == "/marketing_messages"
    assert request.headers[API_KEY_HEADER] == API_KEY
    assert orjson.loads(request.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "4915112345678",
        "type": "template",
        "template": {
            "name": "spring_sale",
            "language": {"code": "en", "policy": "deterministic"},
        },
        "message_activity_sharing": True,
        "product_policy": "STRICT",
    }


async def test_send_message_uses_cloud_endpoint():
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return _ok(request)

    request = CloudMessageRequest(
        to="4915112345678", template={"name": "spring_sale", "language": {"code": "en"}}
    )
    async with _client(handler) as client:
        await client.send_message(request)
    assert paths == ["/messages"]


def _error(status: int, body: object):
    return lambda request: httpx.Response(status, json=body)


def _wrapped(code: int, message: str = "error") -> dict:
    return {"detail": {"error": {"message": message, "type": "OAuthException", "code": code}}}


@pytest.mark.parametrize(
    ("status", "body", "expected", "action"),
    [
        (401, {"error": "Invalid api token."}, AuthenticationError, Action.STOP_CAMPAIGN),
        (400, _wrapped(130429), RateLimitError, Action.RETRY),
        (400, {"detail": "You have exceeded the endpoint rate limit"}, RateLimitError, None),
        (400, _wrapped(131056), RecipientDeferredError, Action.RETRY_RECIPIENT_LATER),
        (400, _wrapped(131026), PermanentRecipientError, Action.NEVER_RETRY),
        (400, _wrapped(132000), InvalidRequestError, Action.FIX_REQUEST),
        (400, _wrapped(132015), CampaignStopError, Action.STOP_CAMPAIGN),
        (500, _wrapped(134102), CampaignStopError, Action.STOP_CAMPAIGN),
        (500, {"error": {"message": "unknown", "code": 131000}}, RetryableError, Action.RETRY),
        (502, "<html>bad gateway</html>", RetryableError, Action.RETRY),
    ],
)
async def test_error_answers_map_to_their_class(status, body, expected, action):
    async with _client(_error(status, body)) as client:
        with pytest.raises(expected) as caught:
            await client.send_marketing_message(_mm_request())
    assert caught.value.http_status == status
    if action is not None:
        assert caught.value.action is action


async def test_rate_limit_answer_slows_the_throttle():
    async with _client(_error(400, _wrapped(130429)), messages_per_second=500) as client:
        with pytest.raises(RateLimitError):
            await client.send_marketing_message(_mm_request())
        assert client.throttle.rate < 500


async def test_connect_failure_is_a_transport_error():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with _client(handler) as client:
        with pytest.raises(TransportError):
            await client.send_marketing_message(_mm_request())


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError]
)
async def test_failure_after_sending_is_an_unknown_outcome(failure):
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure("gone", request=request)

    async with _client(handler) as client:
        with pytest.raises(OutcomeUnknownError, match="may have been accepted"):
            await client.send_marketing_message(_mm_request())


async def test_200_without_wamid_is_an_unknown_outcome():
    async with _client(lambda request: httpx.Response(200, json={"messages": []})) as client:
        with pytest.raises(OutcomeUnknownError):
            await client.send_marketing_message(_mm_request())


TEMPLATES = {
    "count": 1,
    "waba_templates": [
        {
            "id": "t1",
            "name": "spring_sale",
            "language": "en",
            "category": "MARKETING",
            "status": "APPROVED",
            "components": [{"type": "BODY", "text": "Hi {{1}}, {{2}} off"}],
            "message_send_ttl_seconds": 86400,
        }
    ],
}


async def test_list_and_get_templates():
    async with _client(lambda request: httpx.Response(200, json=TEMPLATES)) as client:
        templates = await client.list_templates()
        template = await client.get_template("spring_sale", "en")
        with pytest.raises(LookupError, match="nope"):
            await client.get_template("nope", "en")
    assert [t.name for t in templates] == ["spring_sale"]
    assert template.ttl_seconds == 86400
    assert template.body_parameter_count == 2


async def test_set_template_ttl_validates_before_calling():
    calls: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(orjson.loads(request.content))
        return httpx.Response(200, json={"id": "t1", "status": "APPROVED"})

    template = TemplateInfo.model_validate(TEMPLATES["waba_templates"][0])
    async with _client(handler) as client:
        with pytest.raises(TTLValidationError):
            await client.set_template_ttl(template, 3600)
        assert calls == []
        await client.set_template_ttl(template, 43_200)
    assert calls == [
        {
            "name": "spring_sale",
            "language": "en",
            "category": "MARKETING",
            "message_send_ttl_seconds": 43_200,
        }
    ]


async def test_set_template_ttl_refuses_non_marketing_template():
    template = TemplateInfo(name="order_update", language="en", category="UTILITY")
    async with _client(_ok) as client:
        with pytest.raises(ValueError, match="UTILITY"):
            await client.set_template_ttl(template, 43_200)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="api_key"):
        ClientConfig(api_key="  ")
    with pytest.raises(ValueError, match="base_url"):
        ClientConfig(api_key="k", base_url="waba-v2.360dialog.io")
    with pytest.raises(ValueError, match="messages_per_second"):
        ClientConfig(api_key="k", messages_per_second=5000)
