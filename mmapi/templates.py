"""Message templates as the API lists them, and the TTL rules for marketing templates.

Where TTL lives: `message_send_ttl_seconds` is a property of the *template*, set through the
template API, not a field of the send request. 360dialog's docs say the TTL goes "in the
payload": that is the template payload (create/edit template), not `/marketing_messages`.
Meta's per-send `ttl_seconds` exists only for Direct Send of utility/authentication messages,
so this project never puts a TTL in a marketing send. A campaign records the TTL in force on
its template when it sends (`CampaignTTL`), so analytics can tell an expired message (no
delivery before `sent_at + ttl`) from one still pending.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import TTLValidationError
from .settings import (
    MARKETING_TTL_DEFAULT_SECONDS,
    MARKETING_TTL_MAX_SECONDS,
    MARKETING_TTL_MIN_SECONDS,
    MARKETING_TTL_STEP_SECONDS,
)

__all__ = [
    "CampaignTTL",
    "TemplateInfo",
    "validate_marketing_ttl",
]

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def validate_marketing_ttl(seconds: int) -> int:
    """Check a marketing template TTL against the documented range and step.

    Args:
        seconds: The wanted `message_send_ttl_seconds`.

    Returns:
        The same value, when valid.

    Raises:
        TTLValidationError: outside 43,200..2,592,000 s (12 h to 30 d) or off the 1 s step.

    Example:
        >>> validate_marketing_ttl(86_400)
        86400
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise TTLValidationError(f"ttl_seconds must be an integer number of seconds ({seconds!r})")
    if not MARKETING_TTL_MIN_SECONDS <= seconds <= MARKETING_TTL_MAX_SECONDS:
        raise TTLValidationError(
            f"ttl_seconds={seconds} is outside the marketing template range "
            f"{MARKETING_TTL_MIN_SECONDS}..{MARKETING_TTL_MAX_SECONDS} s (12 h to 30 days)"
        )
    if seconds % MARKETING_TTL_STEP_SECONDS:
        raise TTLValidationError(
            f"ttl_seconds={seconds} is not a multiple of {MARKETING_TTL_STEP_SECONDS} s"
        )
    return seconds


class TemplateInfo(BaseModel):
    """A template as the template API lists it.

    Attributes:
        id: The template id.
        name: Template name, as used in send requests.
        language: Language code.
        category: MARKETING, UTILITY or AUTHENTICATION.
        status: APPROVED, PAUSED, DISABLED, ...
        components: The template's definition (HEADER/BODY/FOOTER/BUTTONS).
        message_send_ttl_seconds: The TTL set on the template; None means the default (30 d).
    """

    model_config = ConfigDict(extra="allow")
    id: str | None = None
    name: str
    language: str
    category: str
    status: str = "APPROVED"
    components: list[dict[str, Any]] = Field(default_factory=list)
    message_send_ttl_seconds: int | None = None

    @property
    def ttl_seconds(self) -> int:
        """The TTL in force: the template's own, or the documented default."""
        value = self.message_send_ttl_seconds
        return MARKETING_TTL_DEFAULT_SECONDS if value in (None, -1) else value

    def _component(self, kind: str) -> dict[str, Any] | None:
        return next((c for c in self.components if str(c.get("type")).upper() == kind), None)

    @property
    def body_parameter_count(self) -> int:
        """How many distinct `{{n}}` placeholders the body has."""
        body = self._component("BODY")
        return len(set(_PLACEHOLDER.findall(body.get("text", "")))) if body else 0

    @property
    def header_format(self) -> str | None:
        """TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION, or None without a header."""
        header = self._component("HEADER")
        return str(header.get("format", "TEXT")).upper() if header else None

    @property
    def header_parameter_count(self) -> int:
        """Placeholders in a text header, or 1 for a media header."""
        header = self._component("HEADER")
        if header is None:
            return 0
        if self.header_format == "TEXT":
            return len(set(_PLACEHOLDER.findall(header.get("text", ""))))
        return 1


class CampaignTTL(BaseModel):
    """The TTL in force for a campaign's template, recorded with the campaign.

    Attributes:
        template_name: The template the campaign sends.
        ttl_seconds: Seconds a message may wait for delivery before Meta drops it.
        source: `template` when read from the template, `default` when the template has none.
        recorded_at: When the value was read.

    Example:
        >>> from datetime import UTC, datetime
        >>> ttl = CampaignTTL(template_name="sale", ttl_seconds=43200, source="template",
        ...                   recorded_at=datetime(2026, 1, 1, tzinfo=UTC))
        >>> ttl.expires_at(datetime(2026, 1, 1, tzinfo=UTC)).hour
        12
    """

    model_config = ConfigDict(frozen=True)
    template_name: str
    ttl_seconds: int
    source: Literal["template", "default"]
    recorded_at: datetime

    @field_validator("ttl_seconds")
    @classmethod
    def _in_range(cls, value: int) -> int:
        return validate_marketing_ttl(value)

    @classmethod
    def from_template(cls, template: TemplateInfo, recorded_at: datetime) -> CampaignTTL:
        """Record the TTL a template carries now."""
        has_own = template.message_send_ttl_seconds not in (None, -1)
        return cls(
            template_name=template.name,
            ttl_seconds=template.ttl_seconds,
            source="template" if has_own else "default",
            recorded_at=recorded_at,
        )

    def expires_at(self, sent_at: datetime) -> datetime:
        """When a message sent at `sent_at` is dropped if still undelivered."""
        return sent_at + timedelta(seconds=self.ttl_seconds)
