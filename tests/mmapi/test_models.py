"""Send request models, the success answer and error bodies (DOMAIN.md sections 1 and 2)."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from mmapi.errors import RateLimitError, classify
from mmapi.models import (
    CloudMessageRequest,
    MarketingMessageRequest,
    ProductPolicy,
    SendResponse,
    parse_error_body,
)

TEMPLATE: dict[str, Any] = {
    "name": "spring_sale",
    "language": {"code": "en_US", "policy": "deterministic"},
    "components": [
        {
            "type": "header",
            "parameters": [{"type": "image", "image": {"link": "https://example.com/a.jpg"}}],
        },
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Ana"},
                {
                    "type": "currency",
                    "currency": {"fallback_value": "$10", "code": "USD", "amount_1000": 10000},
                },
                {"type": "date_time", "date_time": {"fallback_value": "1 May"}},
            ],
        },
        {
            "type": "button",
            "sub_type": "url",
            "index": 0,
            "parameters": [{"type": "text", "text": "spring"}],
        },
    ],
}

MM_BODY: dict[str, Any] = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": "4915112345678",
    "type": "template",
    "template": TEMPLATE,
    "product_policy": "STRICT",
    "message_activity_sharing": True,
}


def body(**changes: Any) -> dict[str, Any]:
    """A deep copy of the documented MM body with top-level changes (None removes the key)."""
    result = copy.deepcopy(MM_BODY)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def rejected_locs(model: type, data: dict[str, Any]) -> list[tuple[Any, ...]]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return [error["loc"] for error in info.value.errors()]


# --- accepted bodies and to_json ------------------------------------------------------------


def test_marketing_request_documented_body_round_trips_exactly():
    request = MarketingMessageRequest.model_validate(MM_BODY)

    assert orjson.loads(request.to_json()) == MM_BODY


def test_marketing_request_to_json_omits_unset_optionals():
    request = MarketingMessageRequest(
        to="+4915112345678", template={"name": "spring_sale", "language": {"code": "en"}}
    )

    assert orjson.loads(request.to_json()) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+4915112345678",
        "type": "template",
        "template": {"name": "spring_sale", "language": {"code": "en", "policy": "deterministic"}},
    }


def test_marketing_request_to_json_keeps_false_activity_sharing():
    request = MarketingMessageRequest.model_validate(body(message_activity_sharing=False))

    assert orjson.loads(request.to_json())["message_activity_sharing"] is False


def test_marketing_request_button_index_string_serialises_as_int():
    template = copy.deepcopy(TEMPLATE)
    template["components"][2]["index"] = "0"

    request = MarketingMessageRequest.model_validate(body(template=template))

    assert orjson.loads(request.to_json())["template"]["components"][2]["index"] == 0


def test_cloud_request_documented_body_with_callback_data_round_trips():
    data = body(product_policy=None, message_activity_sharing=None)
    data["biz_opaque_callback_data"] = "campaign=42;arm=cloud"

    request = CloudMessageRequest.model_validate(data)

    assert orjson.loads(request.to_json()) == data


def test_cloud_request_to_json_omits_unset_callback_data():
    request = CloudMessageRequest(to="4915112345678", template=TEMPLATE)

    assert "biz_opaque_callback_data" not in orjson.loads(request.to_json())


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("strict", "STRICT"),
        ("Strict", "STRICT"),
        ("STRICT", "STRICT"),
        (" strict ", "STRICT"),
        ("cloud_api_fallback", "CLOUD_API_FALLBACK"),
        ("CLOUD_API_FALLBACK", "CLOUD_API_FALLBACK"),
        ("cloud-api-fallback", "CLOUD_API_FALLBACK"),
        ("Cloud API fallback", "CLOUD_API_FALLBACK"),
        ("fallback", "CLOUD_API_FALLBACK"),
        (ProductPolicy.STRICT, "STRICT"),
    ],
)
def test_marketing_request_product_policy_spelling_serialises_documented_value(spelling, expected):
    request = MarketingMessageRequest.model_validate(body(product_policy=spelling))

    assert request.product_policy == ProductPolicy(expected)
    assert orjson.loads(request.to_json())["product_policy"] == expected


@pytest.mark.parametrize("value", ["lenient", "cloud", "strictly", "", 1, True])
def test_marketing_request_product_policy_unknown_rejected_naming_field(value):
    with pytest.raises(ValidationError) as info:
        MarketingMessageRequest.model_validate(body(product_policy=value))

    errors = info.value.errors()
    assert [error["loc"] for error in errors] == [("product_policy",)]
    assert "product_policy" in errors[0]["msg"]


# --- rejected bodies: the loc names the field -----------------------------------------------


def test_marketing_request_missing_to_rejected():
    assert rejected_locs(MarketingMessageRequest, body(to=None)) == [("to",)]


def test_marketing_request_missing_template_name_rejected():
    template = copy.deepcopy(TEMPLATE)
    del template["name"]

    assert rejected_locs(MarketingMessageRequest, body(template=template)) == [("template", "name")]


def test_marketing_request_missing_language_code_rejected():
    template = copy.deepcopy(TEMPLATE)
    template["language"] = {"policy": "deterministic"}

    assert rejected_locs(MarketingMessageRequest, body(template=template)) == [
        ("template", "language", "code")
    ]


def test_marketing_request_language_policy_not_deterministic_rejected():
    template = copy.deepcopy(TEMPLATE)
    template["language"]["policy"] = "fallback"

    assert rejected_locs(MarketingMessageRequest, body(template=template)) == [
        ("template", "language", "policy")
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("type", "text"),
        ("type", "interactive"),
        ("messaging_product", "sms"),
        ("recipient_type", "group"),
    ],
)
@pytest.mark.parametrize("model", [MarketingMessageRequest, CloudMessageRequest])
def test_send_request_fixed_field_other_value_rejected(model, field, value):
    data = body(product_policy=None, message_activity_sharing=None, **{field: value})

    assert rejected_locs(model, data) == [(field,)]


@pytest.mark.parametrize("model", [MarketingMessageRequest, CloudMessageRequest])
def test_send_request_unknown_top_level_field_rejected(model):
    data = body(product_policy=None, message_activity_sharing=None)
    data["ttl_seconds"] = 43200

    with pytest.raises(ValidationError) as info:
        model.model_validate(data)

    assert [(e["loc"], e["type"]) for e in info.value.errors()] == [
        (("ttl_seconds",), "extra_forbidden")
    ]


@pytest.mark.parametrize(
    ("path", "loc"),
    [
        (("template",), ("template", "namespace")),
        (("template", "language"), ("template", "language", "fallback")),
        (("template", "components", 1), ("template", "components", 1, "format")),
        (
            ("template", "components", 1, "parameters", 0),
            ("template", "components", 1, "parameters", 0, "value"),
        ),
    ],
)
def test_marketing_request_unknown_nested_field_rejected(path, loc):
    data = body()
    target: Any = data
    for key in path:
        target = target[key]
    target[loc[-1]] = "x"

    with pytest.raises(ValidationError) as info:
        MarketingMessageRequest.model_validate(data)

    assert [(e["loc"], e["type"]) for e in info.value.errors()] == [(loc, "extra_forbidden")]


@pytest.mark.parametrize(
    "to",
    [
        "49151abc5678",  # letters
        "123456",  # too short: 6 digits
        "+123456",
        "1234567890123456",  # too long: 16 digits
        "49 151 1234 5678",  # spaces inside
        "+49 15112345678",
        "04915112345678",  # leading zero is not E.164
        "",
    ],
)
def test_marketing_request_bad_phone_number_rejected(to):
    assert rejected_locs(MarketingMessageRequest, body(to=to)) == [("to",)]


@pytest.mark.parametrize("to", ["1234567", "123456789012345", "+4915112345678"])
def test_marketing_request_phone_number_at_limits_accepted(to):
    assert MarketingMessageRequest.model_validate(body(to=to)).to == to


def test_marketing_request_currency_parameter_without_currency_rejected():
    template = copy.deepcopy(TEMPLATE)
    template["components"][1]["parameters"][1] = {"type": "currency", "text": "$10"}

    with pytest.raises(ValidationError) as info:
        MarketingMessageRequest.model_validate(body(template=template))

    errors = info.value.errors()
    # The model-level check lands on the parameter; its message names the missing field.
    assert [e["loc"] for e in errors] == [("template", "components", 1, "parameters", 1)]
    assert "'currency'" in errors[0]["msg"]


def test_marketing_request_parameter_unknown_type_rejected():
    template = copy.deepcopy(TEMPLATE)
    template["components"][1]["parameters"][0] = {"type": "location", "text": "x"}

    assert rejected_locs(MarketingMessageRequest, body(template=template)) == [
        ("template", "components", 1, "parameters", 0, "type")
    ]


@pytest.mark.parametrize(
    "media",
    [
        {"link": "https://example.com/a.jpg", "id": "123"},  # both
        {"filename": "a.jpg"},  # neither
    ],
)
def test_marketing_request_media_needs_exactly_one_source(media):
    template = copy.deepcopy(TEMPLATE)
    template["components"][0]["parameters"][0]["image"] = media

    with pytest.raises(ValidationError) as info:
        MarketingMessageRequest.model_validate(body(template=template))

    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [("template", "components", 0, "parameters", 0, "image")]
    assert "'link'" in errors[0]["msg"]
    assert "'id'" in errors[0]["msg"]


def test_marketing_request_media_link_not_url_rejected():
    template = copy.deepcopy(TEMPLATE)
    template["components"][0]["parameters"][0]["image"] = {"link": "a.jpg"}

    assert rejected_locs(MarketingMessageRequest, body(template=template)) == [
        ("template", "components", 0, "parameters", 0, "image", "link")
    ]


@pytest.mark.parametrize("missing", ["sub_type", "index"])
def test_marketing_request_button_without_sub_type_or_index_rejected(missing):
    template = copy.deepcopy(TEMPLATE)
    del template["components"][2][missing]

    with pytest.raises(ValidationError) as info:
        MarketingMessageRequest.model_validate(body(template=template))

    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [("template", "components", 2)]
    assert missing in errors[0]["msg"]


@pytest.mark.parametrize("value", ["maybe", "sometimes", 2, [True], {"on": True}])
def test_marketing_request_activity_sharing_not_bool_rejected(value):
    assert rejected_locs(MarketingMessageRequest, body(message_activity_sharing=value)) == [
        ("message_activity_sharing",)
    ]


def test_marketing_request_callback_data_rejected():
    data = body()
    data["biz_opaque_callback_data"] = "campaign=42"

    with pytest.raises(ValidationError) as info:
        MarketingMessageRequest.model_validate(data)

    assert [(e["loc"], e["type"]) for e in info.value.errors()] == [
        (("biz_opaque_callback_data",), "extra_forbidden")
    ]


@pytest.mark.parametrize("field", ["product_policy", "message_activity_sharing"])
def test_cloud_request_marketing_only_field_rejected(field):
    data = body(product_policy=None, message_activity_sharing=None)
    data[field] = MM_BODY[field]

    assert rejected_locs(CloudMessageRequest, data) == [(field,)]


def test_cloud_request_callback_data_too_long_rejected():
    data = body(product_policy=None, message_activity_sharing=None)
    data["biz_opaque_callback_data"] = "x" * 513

    assert rejected_locs(CloudMessageRequest, data) == [("biz_opaque_callback_data",)]


# --- the 200 answer -------------------------------------------------------------------------


def test_send_response_documented_answer_parsed():
    answer = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "+4915112345678", "wa_id": "4915112345678"}],
        "messages": [{"id": "wamid.HBgM", "message_status": "held_for_quality_assessment"}],
    }

    response = SendResponse.model_validate_json(orjson.dumps(answer))

    assert response.wamid == "wamid.HBgM"
    assert response.message_status == "held_for_quality_assessment"
    assert response.contacts[0].input == "+4915112345678"
    assert response.contacts[0].wa_id == "4915112345678"


def test_send_response_without_message_status_reads_accepted():
    response = SendResponse.model_validate({"messages": [{"id": "wamid.A"}]})

    assert response.message_status == "accepted"
    assert response.contacts == []


def test_send_response_unknown_fields_kept():
    answer = {
        "contacts": [{"input": "1", "wa_id": "1", "status": "valid"}],
        "messages": [{"id": "wamid.A", "message_status": "accepted", "group_id": "g"}],
        "meta": {"api_status": "stable"},
    }

    response = SendResponse.model_validate(answer)

    assert response.model_extra == {"meta": {"api_status": "stable"}}
    assert response.messages[0].model_extra == {"group_id": "g"}
    assert response.contacts[0].model_extra == {"status": "valid"}
    assert response.model_dump(exclude_none=True) == answer


@pytest.mark.parametrize(
    ("answer", "loc"),
    [
        ({"contacts": []}, ("messages",)),
        ({"messages": []}, ("messages",)),
        ({"messages": [{"id": ""}]}, ("messages", 0, "id")),
    ],
)
def test_send_response_without_wamid_rejected(answer, loc):
    assert rejected_locs(SendResponse, answer) == [loc]


# --- error bodies ---------------------------------------------------------------------------

META_ERROR = {
    "message": "(#131009) Parameter value is not valid",
    "type": "OAuthException",
    "code": 131009,
    "error_data": {"messaging_product": "whatsapp", "details": "ad sync pending"},
    "fbtrace_id": "AbC",
}


def test_parse_error_body_meta_shape():
    parsed = parse_error_body(orjson.dumps({"error": META_ERROR}))

    assert (parsed.code, parsed.title, parsed.details) == (
        131009,
        "(#131009) Parameter value is not valid",
        "ad sync pending",
    )
    assert parsed.raw == {"error": META_ERROR}


def test_parse_error_body_360dialog_wrapped_shape():
    raw = {"meta": {"success": False}, "detail": {"error": META_ERROR}}

    parsed = parse_error_body(orjson.dumps(raw))

    assert (parsed.code, parsed.details) == (131009, "ad sync pending")
    assert parsed.title == META_ERROR["message"]
    assert parsed.raw == raw


def test_parse_error_body_meta_error_without_details():
    parsed = parse_error_body(b'{"error": {"message": "(#130429) Rate limit hit", "code": 130429}}')

    assert (parsed.code, parsed.title, parsed.details) == (130429, "(#130429) Rate limit hit", None)


def test_parse_error_body_bad_key():
    parsed = parse_error_body(b'{"error": "Invalid api token."}')

    assert (parsed.code, parsed.title, parsed.details) == (None, "Invalid api token.", None)


@pytest.mark.parametrize(
    "content",
    [
        b"You have exceeded the endpoint rate limit",
        b'{"detail": "You have exceeded the endpoint rate limit"}',
    ],
)
def test_parse_error_body_360dialog_rate_limit_text(content):
    parsed = parse_error_body(content)

    assert parsed.code is None
    assert "exceeded the endpoint rate limit" in parsed.title
    assert classify(400, parsed.code, parsed.title) is RateLimitError


def test_parse_error_body_non_json():
    parsed = parse_error_body(b"<html><body>502 Bad Gateway</body></html>")

    assert parsed.code is None
    assert parsed.title == "<html><body>502 Bad Gateway</body></html>"


def test_parse_error_body_long_non_json_truncated():
    parsed = parse_error_body(b"x" * 2000)

    assert parsed.title == "x" * 500


@pytest.mark.parametrize("content", [b"", b" \r\n"])
def test_parse_error_body_empty(content):
    parsed = parse_error_body(content)

    assert parsed.code is None
    assert parsed.title == "(empty body)"
    assert parsed.raw is None


@pytest.mark.parametrize("content", [b"[1, 2]", b'"text"', b"null"])
def test_parse_error_body_json_not_object(content):
    parsed = parse_error_body(content)

    assert parsed.code is None
    assert parsed.title


def test_parse_error_body_error_with_non_int_code_kept_as_text():
    parsed = parse_error_body(b'{"error": {"message": "odd", "code": "abc"}}')

    assert parsed.code is None
    assert "odd" in parsed.title
