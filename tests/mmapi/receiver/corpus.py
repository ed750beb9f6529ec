"""A corpus of bad (and borderline) webhook bodies, with what the receiver and landing must do.

`receiver`: the HTTP answer (never 5xx). `landing`: what landing does with the body written
as one line of an export: "quarantine" (with `reason` in its reason), "land", or "skip"
(a blank line). Bodies refused by the receiver are still landed from exports this way, so
the landing meets every kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from .bodies import (
    TS,
    account_update,
    body,
    change,
    click,
    dumps,
    preference,
    status,
    statuses_body,
)


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    receiver: int
    landing: str
    reason: str = ""


def _good(n: int) -> dict:
    return statuses_body(status(f"wamid.CORPUS{n}", "sent"))


def _with(item_changes: dict) -> bytes:
    return dumps(statuses_body(status("wamid.X", "sent") | item_changes))


_VALID = dumps(_good(0))
_DEEP = 5000

CASES: list[Case] = [
    Case("truncated json", _VALID[: len(_VALID) // 2], 400, "quarantine", "not valid JSON"),
    Case("empty body", b"", 400, "skip"),
    Case("whitespace body", b"  \t ", 400, "skip"),
    Case("top-level array", b"[" + _VALID + b"]", 400, "quarantine", "not a JSON object"),
    Case("top-level string", b'"hello"', 400, "quarantine", "not a JSON object"),
    Case("top-level number", b"42", 400, "quarantine", "not a JSON object"),
    Case("top-level null", b"null", 400, "quarantine", "not a JSON object"),
    Case("top-level true", b"true", 400, "quarantine", "not a JSON object"),
    Case("empty object", b"{}", 200, "quarantine", "entry: missing"),
    Case("missing entry", b'{"object":"whatsapp_business_account"}', 200, "quarantine", "entry"),
    Case(
        "entry empty",
        dumps({"object": "whatsapp_business_account", "entry": []}),
        200,
        "quarantine",
        "entry: empty",
    ),
    Case(
        "entry is an object",
        dumps({"entry": {"id": "1", "changes": []}}),
        200,
        "quarantine",
        "entry: not an array",
    ),
    Case(
        "entry element string",
        dumps({"entry": ["x"]}),
        200,
        "quarantine",
        "entry[*]: not an object",
    ),
    Case("entry element null", dumps({"entry": [None]}), 200, "quarantine", "entry[0]: null"),
    Case("changes missing", dumps({"entry": [{"id": "1"}]}), 200, "quarantine", "changes: missing"),
    Case(
        "changes is an object",
        dumps({"entry": [{"id": "1", "changes": {"field": "x"}}]}),
        200,
        "quarantine",
        "entry[*].changes: not an array",
    ),
    Case(
        "change without field",
        dumps({"entry": [{"id": "1", "changes": [{"value": {}}]}]}),
        200,
        "quarantine",
        "field: missing",
    ),
    Case(
        "change without value",
        dumps({"entry": [{"id": "1", "changes": [{"field": "messages"}]}]}),
        200,
        "quarantine",
        "value: missing",
    ),
    Case(
        "value is an array",
        dumps({"entry": [{"id": "1", "changes": [{"field": "messages", "value": [1]}]}]}),
        200,
        "quarantine",
        "changes[*].value: not an object",
    ),
    Case(
        "statuses is an object",
        dumps(body(change(statuses={"id": "w"}))),
        200,
        "quarantine",
        "value.statuses: not an array",
    ),
    Case(
        "status is a string",
        dumps(body(change(statuses=["sent"]))),
        200,
        "quarantine",
        "statuses[*]: not an object",
    ),
    Case(
        "status is null",
        dumps(body(change(statuses=[None]))),
        200,
        "quarantine",
        "statuses[0]: null",
    ),
    Case(
        "status without id",
        dumps(statuses_body({"status": "sent", "timestamp": str(TS)})),
        200,
        "quarantine",
        "id: missing",
    ),
    Case("status with empty id", _with({"id": ""}), 200, "quarantine", "id: missing"),
    Case(
        "status without status",
        dumps(statuses_body({"id": "w", "timestamp": str(TS)})),
        200,
        "quarantine",
        "status: missing",
    ),
    Case("timestamp abc", _with({"timestamp": "abc"}), 200, "quarantine", "not Unix seconds (abc)"),
    Case(
        "timestamp missing",
        dumps(statuses_body({"id": "w", "status": "sent"})),
        200,
        "quarantine",
        "not Unix seconds (missing)",
    ),
    Case("timestamp negative", _with({"timestamp": "-5"}), 200, "quarantine", "not Unix seconds"),
    Case("timestamp float", _with({"timestamp": 1.75e9}), 200, "quarantine", "not Unix seconds"),
    Case(
        "timestamp huge number", _with({"timestamp": 10**20}), 200, "quarantine", "not Unix seconds"
    ),
    Case("timestamp in 1970", _with({"timestamp": "1"}), 200, "quarantine", "out of range"),
    Case("timestamp object", _with({"timestamp": {"s": 1}}), 200, "quarantine", "not Unix seconds"),
    Case(
        "error code abc",
        dumps(statuses_body(status("w", "failed", errors=[{"code": "abc"}]))),
        200,
        "quarantine",
        "code missing or not an integer",
    ),
    Case(
        "error code huge",
        dumps(statuses_body(status("w", "failed", errors=[{"code": 10**30}]))),
        200,
        "quarantine",
        "code missing or not an integer",
    ),
    Case(
        "errors is an object",
        dumps(statuses_body(status("w", "failed", errors={"code": 1}))),
        200,
        "quarantine",
        "statuses[*].errors: not an array",
    ),
    Case(
        "pricing is a string",
        _with({"pricing": "free"}),
        200,
        "quarantine",
        "statuses[*].pricing: not an object",
    ),
    Case(
        "billable yes",
        _with({"pricing": {"billable": "yes"}}),
        200,
        "quarantine",
        "billable: not a boolean",
    ),
    Case(
        "conversation expiry abc",
        _with({"conversation": {"expiration_timestamp": "abc"}}),
        200,
        "quarantine",
        "expiration_timestamp",
    ),
    Case(
        "invalid utf-8",
        _VALID[:40] + b"\xff\xfe" + _VALID[40:],
        400,
        "quarantine",
        "not valid UTF-8",
    ),
    Case("byte order mark", b"\xef\xbb\xbf" + _VALID, 400, "quarantine", "not valid JSON"),
    Case(
        "raw control character",
        _VALID.replace(b"sent", b"se\x01nt"),
        400,
        "quarantine",
        "not valid JSON",
    ),
    Case(
        "deep nesting in entry",
        b'{"entry":' + b"[" * _DEEP + b"]" * _DEEP + b"}",
        400,
        "quarantine",
        "entry[*]: not an object",
    ),
    Case("duplicate entry key", _VALID[:-1] + b',"entry":[]}', 200, "quarantine", "duplicate key"),
    Case(
        "object is not whatsapp",
        dumps(_good(1) | {"object": "page"}),
        200,
        "quarantine",
        "object: not whatsapp_business_account",
    ),
    Case(
        "entry without id",
        dumps({"entry": [{"changes": [change(statuses=[status("w", "sent")])]}]}),
        200,
        "quarantine",
        "entry[0].id: missing",
    ),
    Case(
        "click without action_type",
        dumps(body(change(user_actions=[{"timestamp": str(TS)}]))),
        200,
        "quarantine",
        "action_type: missing",
    ),
    Case(
        "click timestamp soon",
        dumps(body(change(user_actions=[click("c1") | {"timestamp": "soon"}]))),
        200,
        "quarantine",
        "not Unix seconds (soon)",
    ),
    Case(
        "preference without wa_id",
        dumps(
            body(
                change(
                    "user_preferences", user_preferences=[{"value": "stop", "timestamp": str(TS)}]
                )
            )
        ),
        200,
        "quarantine",
        "wa_id: missing",
    ),
    Case(
        "preference without value",
        dumps(
            body(
                change(
                    "user_preferences", user_preferences=[{"wa_id": "49151", "timestamp": str(TS)}]
                )
            )
        ),
        200,
        "quarantine",
        "value: missing",
    ),
    Case(
        "account update without event",
        dumps(
            {
                "entry": [
                    {
                        "id": "1",
                        "time": TS,
                        "changes": [{"field": "account_update", "value": {"waba_info": {}}}],
                    }
                ]
            }
        ),
        200,
        "quarantine",
        "value.event: missing",
    ),
    Case(
        "receipt metadata of the wrong type",
        b'{"_mmflow":"yesterday",' + _VALID[1:],
        200,
        "quarantine",
        "_mmflow: not an object",
    ),
    Case(
        "receipt time garbage",
        b'{"_mmflow":{"received_at":"noon"},' + _VALID[1:],
        200,
        "quarantine",
        "received_at: not a timestamp",
    ),
    # Borderline but valid: these must land.
    Case(
        "unknown fields everywhere",
        dumps(
            {
                "object": "whatsapp_business_account",
                "new": 1,
                "entry": [
                    {
                        "id": "1",
                        "extra": [1],
                        "changes": [
                            {
                                "field": "messages",
                                "more": {},
                                "value": {
                                    "metadata": {"phone_number_id": "2", "x": 1},
                                    "statuses": [
                                        status(
                                            "wamid.UNKNOWN",
                                            "read",
                                            pricing={"billable": False, "new_price": 0.1},
                                            surprise=[],
                                        )
                                    ],
                                },
                            }
                        ],
                    }
                ],
            }
        ),
        200,
        "land",
    ),
    Case(
        "huge numbers in unknown fields", dumps(_good(2) | {"n": 10**30, "f": 1e300}), 200, "land"
    ),
    Case(
        "deep nesting in an unknown field",
        _VALID[:-1] + b',"x":' + b"[" * 2000 + b"]" * 2000 + b"}",
        400,
        "land",
    ),
    Case("NaN in an unknown field", _VALID[:-1] + b',"x":NaN}', 400, "land"),
    Case("timestamp as a number", _with({"id": "wamid.NUMBER", "timestamp": TS}), 200, "land"),
    Case(
        "no metadata",
        dumps(
            body(
                {"field": "messages", "value": {"statuses": [status("wamid.NOMETA", "delivered")]}}
            )
        ),
        200,
        "land",
    ),
    Case(
        "inbound message change",
        dumps(
            body({"field": "messages", "value": {"messages": [{"from": "49151", "type": "text"}]}})
        ),
        200,
        "land",
    ),
    Case(
        "unknown change field",
        dumps(body({"field": "security", "value": {"event": "x"}})),
        200,
        "land",
    ),
    Case(
        "preference stop",
        dumps(
            body(change("user_preferences", user_preferences=[preference("4915100000001", "stop")]))
        ),
        200,
        "land",
    ),
    Case("account update", dumps(account_update()), 200, "land"),
]

PRETTY_BODY = orjson.dumps(_good(3), option=orjson.OPT_INDENT_2)
