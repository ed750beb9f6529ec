"""Error answers of the send and template endpoints, in the shapes 360dialog and Meta use.

Meta's error is `{"error": {"message", "type", "code", "error_data": {"messaging_product",
"details"}, "fbtrace_id"}}`; 360dialog wraps it on `/marketing_messages` as
`{"detail": {"error": {...}}}`. A bad key is 360dialog's `{"error": "Invalid api token."}`
and its own rate limit is `{"detail": "You have exceeded the endpoint rate limit"}`; both
come from 360dialog's proxy and are never wrapped. `mmapi.models.parse_error_body` reads all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..settings import D360_RATE_LIMIT_TEXT

__all__ = [
    "D360_RATE_LIMIT_BODY",
    "INVALID_TOKEN_BODY",
    "ErrorAnswer",
    "validation_details",
]

INVALID_TOKEN_BODY: dict[str, Any] = {"error": "Invalid api token."}
D360_RATE_LIMIT_BODY: dict[str, Any] = {"detail": f"You have {D360_RATE_LIMIT_TEXT}"}

# code -> (HTTP status, message). Messages follow Meta's "(#code) Title" form.
_ERRORS: dict[int, tuple[int, str]] = {
    100: (400, "(#100) Invalid parameter"),
    130429: (400, "(#130429) Rate limit hit"),
    131000: (500, "(#131000) Something went wrong"),
    132000: (400, "(#132000) Number of parameters does not match the expected number of params"),
    132001: (404, "(#132001) Template name does not exist in the translation"),
    134100: (400, "(#134100) Marketing Messages API only accepts marketing templates"),
    134101: (400, "(#134101) Template is being synced with the ads system"),
    134102: (500, "(#134102) WABA is not onboarded to the Marketing Messages API"),
}


@dataclass(frozen=True, slots=True)
class ErrorAnswer:
    """A Meta error answer.

    Attributes:
        code: Meta's error code.
        details: `error_data.details`, naming the field or the reason.
    """

    code: int
    details: str

    @property
    def http_status(self) -> int:
        """The HTTP status this code is answered with."""
        return _ERRORS.get(self.code, (400, ""))[0]

    def body(self, *, wrapped: bool) -> dict[str, Any]:
        """The JSON body; `wrapped` for 360dialog's `/marketing_messages` shape."""
        message = _ERRORS.get(self.code, (400, f"(#{self.code}) Error"))[1]
        error = {
            "message": message,
            "type": "OAuthException",
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details},
            "fbtrace_id": "A" + os.urandom(11).hex(),
        }
        return {"detail": {"error": error}} if wrapped else {"error": error}


def validation_details(error: ValidationError, *, limit: int = 3) -> str:
    """Pydantic errors as Meta-like details naming each field: `template.name: Field required`.

    Args:
        error: The validation error of a request body.
        limit: Errors named at most.

    Returns:
        `"<dotted field>: <message>"` entries joined by `"; "`.
    """
    parts = []
    for item in error.errors(include_url=False)[:limit]:
        field = ".".join(str(part) for part in item["loc"]) or "(body)"
        parts.append(f"{field}: {item['msg']}")
    more = error.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
