"""Pydantic models of the send requests, their answers and their error bodies.

Requests are strict (`extra="forbid"`): a field the API does not document is a mistake that
should fail here, naming the field, before any message is sent. Answers are lenient
(`extra="allow"`): a field the API adds later is kept, not rejected.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "CloudMessageRequest",
    "Component",
    "ContactResult",
    "CurrencyValue",
    "DateTimeValue",
    "ErrorBody",
    "Language",
    "MarketingMessageRequest",
    "MediaValue",
    "MessageResult",
    "MetaError",
    "Parameter",
    "ProductPolicy",
    "SendResponse",
    "TemplatePayload",
    "parse_error_body",
]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
_LENIENT = ConfigDict(extra="allow")
_E164_DIGITS = re.compile(r"^\+?[1-9][0-9]{6,14}$")


class ProductPolicy(StrEnum):
    """How the MM API routes a message when the WABA cannot use MM (DOMAIN.md section 1)."""

    STRICT = "STRICT"
    CLOUD_API_FALLBACK = "CLOUD_API_FALLBACK"


# Spellings people write, reduced to lowercase letters only.
_POLICY_SPELLINGS = {
    "strict": ProductPolicy.STRICT,
    "cloudapifallback": ProductPolicy.CLOUD_API_FALLBACK,
    "cloudfallback": ProductPolicy.CLOUD_API_FALLBACK,
    "fallback": ProductPolicy.CLOUD_API_FALLBACK,
}


def _parse_policy(value: Any) -> Any:
    if isinstance(value, ProductPolicy) or value is None:
        return value
    if isinstance(value, str):
        key = re.sub(r"[^a-z]", "", value.lower())
        if key in _POLICY_SPELLINGS:
            return _POLICY_SPELLINGS[key]
    raise ValueError(f"product_policy must be STRICT or CLOUD_API_FALLBACK (got {value!r})")


PolicyField = Annotated[ProductPolicy, BeforeValidator(_parse_policy)]


class Language(BaseModel):
    """Template language; MM requires the deterministic policy."""

    model_config = _STRICT
    code: str = Field(min_length=2, max_length=15, description="Language code, e.g. en_US.")
    policy: Literal["deterministic"] = Field(
        default="deterministic", description="Only 'deterministic' is accepted."
    )


class CurrencyValue(BaseModel):
    """A currency parameter: amount in thousandths of the unit."""

    model_config = _STRICT
    fallback_value: str = Field(min_length=1)
    code: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")
    amount_1000: int


class DateTimeValue(BaseModel):
    """A date_time parameter, sent as its fallback text."""

    model_config = _STRICT
    fallback_value: str = Field(min_length=1)


class MediaValue(BaseModel):
    """A header image, video or document: a public link or an uploaded media id."""

    model_config = _STRICT
    link: str | None = Field(default=None, pattern=r"^https?://\S+$")
    id: str | None = None
    filename: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> MediaValue:
        if (self.link is None) == (self.id is None):
            raise ValueError("exactly one of 'link' or 'id' is required")
        return self


ParameterType = Literal[
    "text", "currency", "date_time", "image", "video", "document", "payload", "coupon_code"
]


class Parameter(BaseModel):
    """One template parameter; the field named by `type` must be present."""

    model_config = _STRICT
    type: ParameterType
    parameter_name: str | None = None
    text: str | None = Field(default=None, min_length=1)
    currency: CurrencyValue | None = None
    date_time: DateTimeValue | None = None
    image: MediaValue | None = None
    video: MediaValue | None = None
    document: MediaValue | None = None
    payload: str | None = None
    coupon_code: str | None = None

    @model_validator(mode="after")
    def _value_matches_type(self) -> Parameter:
        if getattr(self, self.type) is None:
            raise ValueError(f"a parameter of type {self.type!r} needs its {self.type!r} field")
        return self


class Component(BaseModel):
    """A template component with its parameters."""

    model_config = _STRICT
    type: Literal["header", "body", "button", "carousel", "limited_time_offer"]
    sub_type: Literal["url", "quick_reply", "copy_code", "catalog", "mpm", "flow"] | None = None
    index: int | None = Field(default=None, ge=0, le=9)
    parameters: list[Parameter] = Field(default_factory=list)

    @field_validator("index", mode="before")
    @classmethod
    def _index_as_int(cls, value: Any) -> Any:
        # Meta's examples write the button index as a string ("0").
        return int(value) if isinstance(value, str) and value.isdigit() else value

    @model_validator(mode="after")
    def _button_needs_sub_type(self) -> Component:
        if self.type == "button" and (self.sub_type is None or self.index is None):
            raise ValueError("a button component needs 'sub_type' and 'index'")
        return self


class TemplatePayload(BaseModel):
    """The `template` object of a send request."""

    model_config = _STRICT
    name: str = Field(min_length=1, max_length=512)
    language: Language
    components: list[Component] | None = None


class _SendRequestBase(BaseModel):
    model_config = _STRICT
    messaging_product: Literal["whatsapp"] = "whatsapp"
    recipient_type: Literal["individual"] = "individual"
    to: str = Field(description="Recipient phone number, E.164 digits (a leading + is allowed).")
    type: Literal["template"] = "template"
    template: TemplatePayload

    @field_validator("to")
    @classmethod
    def _to_is_phone_number(cls, value: str) -> str:
        if not _E164_DIGITS.match(value):
            raise ValueError("must be an E.164 phone number: 7 to 15 digits, no spaces")
        return value

    def to_json(self) -> bytes:
        """The request body exactly as sent: documented names, unset optionals left out."""
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))


class MarketingMessageRequest(_SendRequestBase):
    """Body of `POST /marketing_messages` (MM API).

    Example:
        >>> req = MarketingMessageRequest(
        ...     to="4915112345678",
        ...     template={"name": "spring_sale", "language": {"code": "en"}},
        ...     product_policy="strict",
        ... )
        >>> req.product_policy
        <ProductPolicy.STRICT: 'STRICT'>
    """

    message_activity_sharing: bool | None = Field(
        default=None, description="Overrides the WABA's read/click sharing setting."
    )
    product_policy: PolicyField | None = Field(
        default=None, description="STRICT or CLOUD_API_FALLBACK (the API's default)."
    )


class CloudMessageRequest(_SendRequestBase):
    """Body of `POST /messages` (Cloud API), the comparison arm."""

    biz_opaque_callback_data: str | None = Field(
        default=None, max_length=512, description="Echoed back in status webhooks."
    )


class ContactResult(BaseModel):
    """One `contacts[]` entry of a success answer."""

    model_config = _LENIENT
    input: str
    wa_id: str | None = None


class MessageResult(BaseModel):
    """One `messages[]` entry: the wamid and, on MM, its acceptance status."""

    model_config = _LENIENT
    id: str = Field(min_length=1)
    # Documented: accepted | held_for_quality_assessment | paused. Kept open on purpose: a new
    # value on an accepted message must not turn into a lost wamid.
    message_status: str | None = None


class SendResponse(BaseModel):
    """The 200 answer of either send endpoint."""

    model_config = _LENIENT
    messaging_product: str | None = None
    contacts: list[ContactResult] = Field(default_factory=list)
    messages: list[MessageResult] = Field(min_length=1)

    @property
    def wamid(self) -> str:
        return self.messages[0].id

    @property
    def message_status(self) -> str:
        return self.messages[0].message_status or "accepted"


class MetaErrorData(BaseModel):
    model_config = _LENIENT
    messaging_product: str | None = None
    details: str | None = None


class MetaError(BaseModel):
    """Meta's error object (`{"error": {...}}`)."""

    model_config = _LENIENT
    message: str = ""
    type: str | None = None
    code: int | None = None
    error_subcode: int | None = None
    error_data: MetaErrorData | None = None
    fbtrace_id: str | None = None


class ErrorBody(BaseModel):
    """An error answer reduced to what a sender needs, whatever shape it came in."""

    code: int | None = None
    title: str
    details: str | None = None
    raw: Any = None


def parse_error_body(content: bytes) -> ErrorBody:
    """Read an error answer in any of the shapes the APIs use.

    Shapes: Meta's `{"error": {...}}`, 360dialog's wrapped `{"detail": {"error": {...}}}`,
    360dialog's bad key `{"error": "Invalid api token."}`, and anything else as plain text.

    Args:
        content: The raw answer body.

    Returns:
        The code (if any), a title, the details and the parsed body.
    """
    if not content.strip():
        return ErrorBody(title="(empty body)")
    try:
        raw = orjson.loads(content)
    except orjson.JSONDecodeError:
        return ErrorBody(title=content[:500].decode("utf-8", "replace") or "(empty body)")
    if not isinstance(raw, dict):
        return ErrorBody(title=str(raw)[:500], raw=raw)
    inner = raw.get("detail", raw) if isinstance(raw.get("detail"), dict) else raw
    error = inner.get("error")
    if isinstance(error, str):
        return ErrorBody(title=error, raw=raw)
    if isinstance(error, dict):
        try:
            meta = MetaError.model_validate(error)
        except ValidationError:
            return ErrorBody(title=str(error)[:500], raw=raw)
        details = meta.error_data.details if meta.error_data else None
        return ErrorBody(code=meta.code, title=meta.message, details=details, raw=raw)
    # FastAPI-style {"detail": "text"} or any other object.
    return ErrorBody(title=str(raw.get("detail") or raw)[:500], raw=raw)
