"""Webhook bodies (DOMAIN.md section 4) and their signatures."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from mmapi.webhooks import WebhookPayload, sign_body, verify_signature

WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
TS = "1750000000"
TS_DATETIME = datetime(2025, 6, 15, 15, 6, 40, tzinfo=UTC)


def status(wamid: str, state: str, **extra: Any) -> dict[str, Any]:
    return {"id": wamid, "status": state, "timestamp": TS, "recipient_id": "4915112345678"} | extra


def envelope(value: dict[str, Any], field: str = "messages", waba: str = WABA_ID) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba, "changes": [{"field": field, "value": value}]}],
    }


def messages_value(**lists: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
        **lists,
    }


FAILED_STATUS = status(
    "wamid.FAILED",
    "failed",
    biz_opaque_callback_data="campaign=42;arm=cloud",
    errors=[
        {
            "code": 131049,
            "title": "This message was not delivered to maintain healthy ecosystem engagement.",
            "message": "This message was not delivered to maintain healthy ecosystem engagement.",
            "error_data": {"details": "In order to maintain a healthy ecosystem engagement..."},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }
    ],
)
SENT_STATUS = status(
    "wamid.SENT",
    "sent",
    conversation={
        "id": "conv-1",
        "origin": {"type": "marketing_lite"},
        "expiration_timestamp": "1750086400",
    },
    pricing={
        "billable": True,
        "pricing_model": "PMP",
        "type": "regular",
        "category": "marketing_lite",
    },
)


def test_webhook_status_with_pricing_and_conversation_parsed():
    payload = WebhookPayload.model_validate(envelope(messages_value(statuses=[SENT_STATUS])))

    [parsed] = payload.statuses()
    assert (parsed.id, parsed.status, parsed.recipient_id) == (
        "wamid.SENT",
        "sent",
        "4915112345678",
    )
    assert parsed.timestamp == TS_DATETIME
    assert parsed.pricing is not None
    assert parsed.pricing.category == "marketing_lite"
    assert parsed.pricing.pricing_model == "PMP"
    assert parsed.pricing.type == "regular"
    assert parsed.pricing.billable is True
    assert parsed.conversation is not None
    assert parsed.conversation.id == "conv-1"
    assert parsed.conversation.origin == {"type": "marketing_lite"}
    assert parsed.conversation.expiration_timestamp == datetime(2025, 6, 16, 15, 6, 40, tzinfo=UTC)
    assert parsed.errors is None


def test_webhook_status_failed_with_errors_and_callback_data_parsed():
    payload = WebhookPayload.model_validate(envelope(messages_value(statuses=[FAILED_STATUS])))

    [parsed] = payload.statuses()
    assert parsed.biz_opaque_callback_data == "campaign=42;arm=cloud"
    assert parsed.errors is not None
    [error] = parsed.errors
    assert error.code == 131049
    assert error.title is not None
    assert error.title.startswith("This message was not delivered")
    assert error.error_data is not None
    assert error.error_data.details == "In order to maintain a healthy ecosystem engagement..."
    assert error.model_extra == {"href": FAILED_STATUS["errors"][0]["href"]}


def test_webhook_status_timestamp_as_int_accepted():
    payload = WebhookPayload.model_validate(
        envelope(messages_value(statuses=[status("wamid.A", "read", timestamp=1750000000)]))
    )

    assert payload.statuses()[0].timestamp == TS_DATETIME


def test_webhook_statuses_across_changes_and_entries_in_order():
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "field": "messages",
                        "value": messages_value(
                            statuses=[status("wamid.1", "sent"), status("wamid.1", "delivered")]
                        ),
                    },
                    {"field": "messages", "value": messages_value(statuses=[FAILED_STATUS])},
                ],
            },
            {
                "id": "999",
                "changes": [
                    {
                        "field": "messages",
                        "value": messages_value(
                            statuses=[status("wamid.2", "read"), status("wamid.2", "read")]
                        ),
                    },
                    {
                        "field": "account_update",
                        "value": {"event": "MM_LITE_TERMS_SIGNED", "statuses": "not mine"},
                    },
                ],
            },
        ],
    }

    payload = WebhookPayload.model_validate(body)

    assert [(s.id, s.status) for s in payload.statuses()] == [
        ("wamid.1", "sent"),
        ("wamid.1", "delivered"),
        ("wamid.FAILED", "failed"),
        ("wamid.2", "read"),  # duplicates are kept: deduping is the consumer's job
        ("wamid.2", "read"),
    ]
    assert [entry.id for entry in payload.entry] == [WABA_ID, "999"]


def test_webhook_statuses_empty_for_a_click_only_body():
    payload = WebhookPayload.model_validate(
        envelope(messages_value(user_actions=[click_action("cta")]))
    )

    assert payload.statuses() == []


def click_action(component: str, **data_extra: Any) -> dict[str, Any]:
    return {
        "action_type": "marketing_messages_link_click",
        "timestamp": TS,
        "marketing_messages_link_click_data": {
            "click_component": component,
            "product_id": "prod-1",
            "click_id": "click-1",
            "tracking_token": "tok-1",
            **data_extra,
        },
    }


def test_webhook_click_events_parsed_with_capitals_and_extra_fields():
    body = envelope(
        messages_value(
            user_actions=[
                click_action("cta"),
                click_action("CTA", client_user_agent="Mozilla/5.0 (iPhone)"),
                click_action("body"),
            ]
        )
    )

    [change] = WebhookPayload.model_validate(body).entry[0].changes
    actions = change.messages().user_actions

    assert actions is not None
    assert [a.action_type for a in actions] == ["marketing_messages_link_click"] * 3
    assert all(a.timestamp == TS_DATETIME for a in actions)
    clicks = [a.marketing_messages_link_click_data for a in actions]
    assert all(click is not None for click in clicks)
    assert [c.click_component for c in clicks if c] == ["cta", "CTA", "body"]
    assert [(c.product_id, c.click_id, c.tracking_token) for c in clicks if c] == [
        ("prod-1", "click-1", "tok-1")
    ] * 3
    assert clicks[1] is not None
    assert clicks[1].model_extra == {"client_user_agent": "Mozilla/5.0 (iPhone)"}
    assert clicks[0] is not None
    assert clicks[0].model_extra == {}


def test_webhook_user_action_unknown_type_kept():
    action = {"action_type": "landing_page_view", "timestamp": TS, "landing_page_view_data": {}}

    [change] = (
        WebhookPayload.model_validate(envelope(messages_value(user_actions=[action])))
        .entry[0]
        .changes
    )
    [parsed] = change.messages().user_actions or []

    assert parsed.action_type == "landing_page_view"
    assert parsed.marketing_messages_link_click_data is None
    assert parsed.model_extra == {"landing_page_view_data": {}}


def test_webhook_user_preferences_stop_and_resume_parsed():
    preferences = [
        {
            "wa_id": "4915112345678",
            "category": "marketing_messages",
            "value": "stop",
            "timestamp": TS,
        },
        {
            "wa_id": "4915112345679",
            "category": "marketing_messages",
            "value": "resume",
            "timestamp": 1,
        },
    ]

    [change] = (
        WebhookPayload.model_validate(
            envelope(messages_value(user_preferences=preferences), field="user_preferences")
        )
        .entry[0]
        .changes
    )
    parsed = change.messages().user_preferences

    assert change.field == "user_preferences"
    assert parsed is not None
    assert [(p.wa_id, p.category, p.value) for p in parsed] == [
        ("4915112345678", "marketing_messages", "stop"),
        ("4915112345679", "marketing_messages", "resume"),
    ]
    assert parsed[0].timestamp == TS_DATETIME
    assert parsed[1].timestamp == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_webhook_account_update_terms_signed_parsed():
    value = {"event": "MM_LITE_TERMS_SIGNED", "waba_info": {"waba_id": WABA_ID, "owner": "x"}}

    [change] = (
        WebhookPayload.model_validate(envelope(value, field="account_update")).entry[0].changes
    )
    update = change.account_update()

    assert change.field == "account_update"
    assert update.event == "MM_LITE_TERMS_SIGNED"
    assert update.waba_info is not None
    assert update.waba_info["waba_id"] == WABA_ID


def test_webhook_template_category_update_kept_as_raw_value():
    value = {
        "message_template_id": 1234,
        "message_template_name": "spring_sale",
        "previous_category": "UTILITY",
        "new_category": "MARKETING",
    }

    payload = WebhookPayload.model_validate(envelope(value, field="template_category_update"))

    assert payload.entry[0].changes[0].value == value
    assert payload.statuses() == []


def test_webhook_unknown_fields_kept_at_every_level():
    body = envelope(messages_value(statuses=[status("wamid.A", "sent", new_flag=True)]))
    body["new_top"] = 1
    body["entry"][0]["time"] = 1750000000
    body["entry"][0]["changes"][0]["new_change"] = "c"
    body["entry"][0]["changes"][0]["value"]["contacts"] = [{"wa_id": "1"}]
    body["entry"][0]["changes"][0]["value"]["metadata"]["new_meta"] = "m"

    payload = WebhookPayload.model_validate_json(orjson.dumps(body))
    change = payload.entry[0].changes[0]
    value = change.messages()

    assert payload.model_extra == {"new_top": 1}
    assert payload.entry[0].model_extra == {"time": 1750000000}
    assert change.model_extra == {"new_change": "c"}
    assert value.model_extra == {"contacts": [{"wa_id": "1"}]}
    assert value.metadata is not None
    assert value.metadata.model_extra == {"new_meta": "m"}
    assert payload.statuses()[0].model_extra == {"new_flag": True}


def _set(body: dict, path: tuple[Any, ...], value: Any) -> dict:
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


VALUE = ("entry", 0, "changes", 0, "value")


@pytest.mark.parametrize(
    ("path", "bad", "loc"),
    [
        ((*VALUE, "statuses", 0, "timestamp"), "abc", (*VALUE, "statuses", 0, "timestamp")),
        ((*VALUE, "statuses", 0, "timestamp"), "", (*VALUE, "statuses", 0, "timestamp")),
        ((*VALUE, "statuses", 0, "timestamp"), "1.5", (*VALUE, "statuses", 0, "timestamp")),
        ((*VALUE, "statuses", 0, "timestamp"), True, (*VALUE, "statuses", 0, "timestamp")),
        ((*VALUE, "statuses", 0, "timestamp"), None, (*VALUE, "statuses", 0, "timestamp")),
        (
            (*VALUE, "statuses", 0, "timestamp"),
            "99999999999999999999",  # out of datetime's range
            (*VALUE, "statuses", 0, "timestamp"),
        ),
        ((*VALUE, "statuses"), {"id": "wamid.A"}, (*VALUE, "statuses")),
        ((*VALUE, "statuses"), "wamid.A", (*VALUE, "statuses")),
        (
            (*VALUE, "statuses", 0, "errors", 0, "code"),
            "x",
            (*VALUE, "statuses", 0, "errors", 0, "code"),
        ),
        ((*VALUE, "statuses", 0, "id"), "", (*VALUE, "statuses", 0, "id")),
        ((*VALUE, "statuses", 0, "pricing"), "marketing", (*VALUE, "statuses", 0, "pricing")),
        (
            (*VALUE, "metadata"),
            {"display_phone_number": "1"},
            (*VALUE, "metadata", "phone_number_id"),
        ),
        (("entry", 0, "changes"), None, ("entry", 0, "changes")),
        (("entry", 0, "changes", 0, "value"), [], ("entry", 0, "changes", 0, "value")),
    ],
)
def test_webhook_wrong_type_rejected_naming_field(path, bad, loc):
    body = _set(envelope(messages_value(statuses=[copy.deepcopy(FAILED_STATUS)])), path, bad)

    with pytest.raises(ValidationError) as info:
        WebhookPayload.model_validate(body)

    assert [error["loc"] for error in info.value.errors()] == [loc]


@pytest.mark.parametrize(
    ("field", "value", "loc"),
    [
        (
            "messages",
            {"user_actions": [{"action_type": "x", "timestamp": "soon"}]},
            ("user_actions", 0, "timestamp"),
        ),
        (
            "user_preferences",
            {"user_preferences": [{"wa_id": "1", "value": "stop", "timestamp": "abc"}]},
            ("user_preferences", 0, "timestamp"),
        ),
        ("account_update", {"waba_info": {"waba_id": "1"}}, ("event",)),
    ],
)
def test_webhook_wrong_type_in_other_changes_rejected_naming_field(field, value, loc):
    with pytest.raises(ValidationError) as info:
        WebhookPayload.model_validate(envelope(value, field=field))

    assert [error["loc"] for error in info.value.errors()] == [(*VALUE, *loc)]


def test_webhook_missing_entry_rejected():
    with pytest.raises(ValidationError) as info:
        WebhookPayload.model_validate({"object": "whatsapp_business_account"})

    assert [(e["loc"], e["type"]) for e in info.value.errors()] == [(("entry",), "missing")]


def test_webhook_empty_entry_rejected():
    with pytest.raises(ValidationError) as info:
        WebhookPayload.model_validate({"object": "whatsapp_business_account", "entry": []})

    assert [(e["loc"], e["type"]) for e in info.value.errors()] == [(("entry",), "too_short")]


# --- signatures -----------------------------------------------------------------------------

SECRET = "app-secret"
BODY = orjson.dumps(envelope(messages_value(statuses=[SENT_STATUS])))


def test_sign_body_is_sha256_hex():
    header = sign_body(BODY, SECRET)

    assert header.startswith("sha256=")
    assert len(header) == len("sha256=") + 64
    assert int(header.removeprefix("sha256="), 16) >= 0


def test_sign_body_known_vector():
    # The widely published HMAC-SHA256 example: key "key", the quick brown fox.
    assert sign_body(b"The quick brown fox jumps over the lazy dog", "key") == (
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )


def test_verify_signature_round_trip():
    assert verify_signature(BODY, sign_body(BODY, SECRET), SECRET) is True


def test_verify_signature_tolerates_surrounding_whitespace():
    assert verify_signature(BODY, f" {sign_body(BODY, SECRET)}\r\n", SECRET) is True


def test_verify_signature_wrong_secret_fails():
    assert verify_signature(BODY, sign_body(BODY, "other-secret"), SECRET) is False


@pytest.mark.parametrize("header", [None, ""])
def test_verify_signature_missing_header_fails(header):
    assert verify_signature(BODY, header, SECRET) is False


def test_verify_signature_tampered_body_fails():
    header = sign_body(BODY, SECRET)
    tampered = BODY.replace(b'"sent"', b'"read"')

    assert tampered != BODY
    assert verify_signature(tampered, header, SECRET) is False


def test_verify_signature_without_prefix_fails():
    header = sign_body(BODY, SECRET).removeprefix("sha256=")

    assert verify_signature(BODY, header, SECRET) is False
