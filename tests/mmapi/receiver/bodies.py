"""Webhook bodies for the receiver and landing tests, in Meta's shape (DOMAIN.md section 4)."""

from __future__ import annotations

import json
from typing import Any

WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
TS = 1_750_000_000  # 2025-06-15 15:06:40 UTC


def status(wamid: str, state: str, ts: int = TS, **extra: Any) -> dict[str, Any]:
    """One statuses[] element; `sent`/`delivered`/`read` get MM pricing unless given."""
    item: dict[str, Any] = {
        "id": wamid,
        "status": state,
        "timestamp": str(ts),
        "recipient_id": "4915112345678",
    }
    if state in ("sent", "delivered", "read") and "pricing" not in extra:
        item["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "type": "regular",
            "category": "marketing_lite",
        }
    return item | extra


def failed(wamid: str, code: int = 131049, ts: int = TS, **extra: Any) -> dict[str, Any]:
    """A failed status with one error."""
    return status(
        wamid,
        "failed",
        ts,
        errors=[
            {
                "code": code,
                "title": "Not delivered",
                "message": "Not delivered to keep engagement healthy.",
                "error_data": {"details": "per-user marketing limit"},
            }
        ],
        **extra,
    )


def click(click_id: str, ts: int = TS, **data: Any) -> dict[str, Any]:
    """One user_actions[] link click."""
    return {
        "action_type": "marketing_messages_link_click",
        "timestamp": str(ts),
        "marketing_messages_link_click_data": {
            "click_component": "cta",
            "click_id": click_id,
            "tracking_token": f"tok-{click_id}",
        }
        | data,
    }


def preference(wa_id: str, value: str, ts: int = TS) -> dict[str, Any]:
    """One user_preferences[] element (stop or resume)."""
    return {"wa_id": wa_id, "category": "marketing_messages", "value": value, "timestamp": str(ts)}


def value(**lists: Any) -> dict[str, Any]:
    """A `messages` change value with metadata."""
    metadata = {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID}
    return {"messaging_product": "whatsapp", "metadata": metadata, **lists}


def change(field: str = "messages", **lists: Any) -> dict[str, Any]:
    return {"field": field, "value": value(**lists)}


def body(*changes: dict[str, Any], waba: str = WABA_ID, **entry: Any) -> dict[str, Any]:
    """A whole body with one entry holding `changes`."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba, "changes": list(changes), **entry}],
    }


def statuses_body(*items: dict[str, Any]) -> dict[str, Any]:
    return body(change(statuses=list(items)))


def account_update(event: str = "MM_LITE_TERMS_SIGNED", time: int = TS) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "time": time,
                "changes": [
                    {
                        "field": "account_update",
                        "value": {"event": event, "waba_info": {"waba_id": WABA_ID}},
                    }
                ],
            }
        ],
    }


def dumps(data: Any) -> bytes:
    """Compact JSON; the standard library's, which writes integers of any size."""
    return json.dumps(data, separators=(",", ":")).encode()
