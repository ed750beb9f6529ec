"""Pydantic models of the webhook bodies: statuses, clicks, user preferences, account updates.

Unknown fields are kept (`extra="allow"`): Meta adds fields without notice. Fields that the
pipeline relies on are typed, so `"timestamp": "abc"` fails with an error naming
`entry.0.changes.0.value.statuses.0.timestamp`.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

__all__ = [
    "AccountUpdateValue",
    "Change",
    "Conversation",
    "Entry",
    "LinkClickData",
    "Metadata",
    "Pricing",
    "Status",
    "StatusError",
    "UserAction",
    "UserPreference",
    "WebhookPayload",
    "sign_body",
    "verify_signature",
]

_KEEP = ConfigDict(extra="allow")


def _unix_seconds(value: Any) -> Any:
    # Meta sends timestamps as strings of Unix seconds; accept ints too, nothing else.
    if isinstance(value, datetime):
        return value
    if isinstance(value, bool):
        raise ValueError("must be Unix seconds, not a boolean")
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        try:
            return datetime.fromtimestamp(int(value), tz=UTC)
        except (OverflowError, OSError) as exc:
            raise ValueError(f"Unix seconds out of range (got {value!r})") from exc
    raise ValueError(f"must be Unix seconds as digits (got {value!r})")


UnixTime = Annotated[datetime, BeforeValidator(_unix_seconds)]


class Metadata(BaseModel):
    model_config = _KEEP
    display_phone_number: str | None = None
    phone_number_id: str


class Pricing(BaseModel):
    """Pricing of a status: `category` tells the route taken (marketing_lite = MM)."""

    model_config = _KEEP
    billable: bool | None = None
    pricing_model: str | None = None
    type: str | None = None
    category: str | None = None


class StatusErrorData(BaseModel):
    model_config = _KEEP
    details: str | None = None


class StatusError(BaseModel):
    model_config = _KEEP
    code: int
    title: str | None = None
    message: str | None = None
    error_data: StatusErrorData | None = None


class Conversation(BaseModel):
    model_config = _KEEP
    id: str | None = None
    origin: dict[str, Any] | None = None
    expiration_timestamp: UnixTime | None = None


class Status(BaseModel):
    """One `statuses[]` element."""

    model_config = _KEEP
    id: str = Field(min_length=1, description="The wamid.")
    status: str = Field(min_length=1, description="sent | delivered | read | failed | ...")
    timestamp: UnixTime
    recipient_id: str | None = None
    biz_opaque_callback_data: str | None = None
    conversation: Conversation | None = None
    pricing: Pricing | None = None
    errors: list[StatusError] | None = None


class LinkClickData(BaseModel):
    model_config = _KEEP
    click_component: str | None = None
    product_id: str | None = None
    click_id: str | None = None
    tracking_token: str | None = None


class UserAction(BaseModel):
    """One `user_actions[]` element (link clicks, landing page views; an open enum)."""

    model_config = _KEEP
    action_type: str
    timestamp: UnixTime
    marketing_messages_link_click_data: LinkClickData | None = None


class UserPreference(BaseModel):
    model_config = _KEEP
    wa_id: str
    category: str | None = None
    value: str
    timestamp: UnixTime


class AccountUpdateValue(BaseModel):
    model_config = _KEEP
    event: str
    waba_info: dict[str, Any] | None = None


class MessagesValue(BaseModel):
    model_config = _KEEP
    messaging_product: str | None = None
    metadata: Metadata | None = None
    statuses: list[Status] | None = None
    user_actions: list[UserAction] | None = None
    user_preferences: list[UserPreference] | None = None
    errors: list[StatusError] | None = None


class Change(BaseModel):
    model_config = _KEEP
    field: str
    value: dict[str, Any]

    @field_validator("value")
    @classmethod
    def _value_matches_field(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # Validate the known kinds up front, so an error names entry.N.changes.N.value.<field>;
        # the raw dict is kept as it came.
        model = _VALUE_MODELS.get(info.data.get("field", ""))
        if model is not None:
            model.model_validate(value)
        return value

    def messages(self) -> MessagesValue:
        """The value read as a `messages` / `user_preferences` change."""
        return MessagesValue.model_validate(self.value)

    def account_update(self) -> AccountUpdateValue:
        """The value read as an `account_update` change."""
        return AccountUpdateValue.model_validate(self.value)


_VALUE_MODELS: dict[str, type[BaseModel]] = {
    "messages": MessagesValue,
    "user_preferences": MessagesValue,
    "account_update": AccountUpdateValue,
}


class Entry(BaseModel):
    model_config = _KEEP
    id: str = Field(description="The WABA id.")
    changes: list[Change]


class WebhookPayload(BaseModel):
    """A whole webhook body: `{"object": ..., "entry": [...]}`.

    Example:
        >>> body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        ...     {"field": "messages", "value": {"metadata": {"phone_number_id": "2"},
        ...      "statuses": [{"id": "wamid.X", "status": "read", "timestamp": "1700000000"}]}}]}]}
        >>> WebhookPayload.model_validate(body).statuses()[0].status
        'read'
    """

    model_config = _KEEP
    object: Literal["whatsapp_business_account"] | str = "whatsapp_business_account"
    entry: list[Entry] = Field(min_length=1)

    def statuses(self) -> list[Status]:
        """Every status in the body, across entries and changes."""
        return [
            status
            for entry in self.entry
            for change in entry.changes
            if change.field == "messages"
            for status in change.messages().statuses or []
        ]


def sign_body(body: bytes, secret: str) -> str:
    """The `X-Hub-Signature-256` header value for a body: `sha256=<hex HMAC>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """Check a signature header in constant time; a missing header fails."""
    if not header:
        return False
    return hmac.compare_digest(sign_body(body, secret), header.strip())
