"""The sandbox WABA's templates: their definitions, the defaults, and the live catalog.

The catalog serves lookups for sends, the template listing and TTL edits, and ad sync.

Meta needs about ten minutes to sync a new or changed marketing template with its ads
system; sends in that time fail with 134101. The sandbox models it with
`ad_sync_seconds` of real time after a template is created or its TTL changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..settings import MARKETING_TTL_DEFAULT_SECONDS
from ..templates import TemplateInfo, validate_marketing_ttl

__all__ = ["CatalogEntry", "SandboxTemplate", "TemplateCatalog", "default_templates"]

_CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")


class SandboxTemplate(BaseModel):
    """A message template as the sandbox's WABA holds it, in Meta's format.

    Attributes:
        id: Template id; the catalog numbers templates without one.
        name: Template name used in send requests.
        language: Language code, e.g. `en`.
        category: MARKETING, UTILITY or AUTHENTICATION.
        status: Review status; only APPROVED templates are listed as such.
        components: HEADER/BODY/FOOTER/BUTTONS components as Meta defines them.
        message_send_ttl_seconds: The template's TTL; None means the default of 30 days.

    Example:
        >>> SandboxTemplate(name="t", language="en", category="MARKETING",
        ...     components=[{"type": "BODY", "text": "Hi {{1}}"}]).info().body_parameter_count
        1
    """

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, description="Template id (assigned when None).")
    name: str = Field(min_length=1, description="Template name used in send requests.")
    language: str = Field(min_length=2, description="Language code, e.g. en.")
    category: str = Field(description="MARKETING, UTILITY or AUTHENTICATION.")
    status: str = Field(default="APPROVED", description="Review status.")
    components: list[dict[str, Any]] = Field(
        default_factory=list, description="HEADER/BODY/FOOTER/BUTTONS in Meta's format."
    )
    message_send_ttl_seconds: int | None = Field(
        default=None, description="The template's TTL; None means the default of 30 days."
    )

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        value = value.upper()
        if value not in _CATEGORIES:
            raise ValueError(f"category must be one of {', '.join(_CATEGORIES)} (got {value!r})")
        return value

    @model_validator(mode="after")
    def _ttl_in_range(self) -> SandboxTemplate:
        if self.category == "MARKETING" and self.message_send_ttl_seconds not in (None, -1):
            validate_marketing_ttl(self.message_send_ttl_seconds)
        return self

    def info(self) -> TemplateInfo:
        """The template as `mmapi.templates.TemplateInfo` reads it from the template API."""
        return TemplateInfo.model_validate(self.model_dump())


def default_templates() -> list[SandboxTemplate]:
    """The templates every sandbox starts with.

    `spring_sale` (MARKETING, image header, 2 body parameters, URL button with a dynamic
    suffix), `winback_offer` (MARKETING, 3 body parameters: text, currency, date_time) and
    `order_update` (UTILITY, 2 body parameters; the Marketing Messages API refuses it).
    """
    return [
        SandboxTemplate(
            id="1000000000000001",
            name="spring_sale",
            language="en",
            category="MARKETING",
            components=[
                {
                    "type": "HEADER",
                    "format": "IMAGE",
                    "example": {"header_handle": ["https://shop.example.com/img/spring.jpg"]},
                },
                {
                    "type": "BODY",
                    "text": "Hi {{1}}! Our spring sale is on: {{2}} off everything this week.",
                    "example": {"body_text": [["Ana", "20%"]]},
                },
                {"type": "FOOTER", "text": "Tap Stop promotions to opt out"},
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {
                            "type": "URL",
                            "text": "Shop now",
                            "url": "https://shop.example.com/spring/{{1}}",
                            "example": ["https://shop.example.com/spring/abc123"],
                        }
                    ],
                },
            ],
        ),
        SandboxTemplate(
            id="1000000000000002",
            name="winback_offer",
            language="en",
            category="MARKETING",
            components=[
                {
                    "type": "BODY",
                    "text": "Hi {{1}}, we miss you! Take {{2}} off your next order until {{3}}.",
                    "example": {"body_text": [["Ana", "€10.00", "May 31"]]},
                },
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "URL", "text": "Come back", "url": "https://shop.example.com/"}
                    ],
                },
            ],
        ),
        SandboxTemplate(
            id="1000000000000003",
            name="order_update",
            language="en",
            category="UTILITY",
            components=[{"type": "BODY", "text": "Your order {{1}} is now {{2}}."}],
        ),
    ]


@dataclass(slots=True)
class CatalogEntry:
    """One template with what a send needs precomputed.

    Attributes:
        template: The template definition.
        index: Position in the catalog (stored per message in the ground truth).
        body_parameter_count: Placeholders in the BODY text.
        has_url_button: Whether a click can come from a CTA button.
        ad_sync_until: `time.monotonic()` when its ad sync ends (0 = synced).
    """

    template: SandboxTemplate
    index: int
    body_parameter_count: int
    has_url_button: bool
    ad_sync_until: float = 0.0

    @property
    def is_marketing(self) -> bool:
        """Whether the template is in the MARKETING category."""
        return self.template.category == "MARKETING"

    @property
    def ttl_seconds(self) -> int:
        """The template's TTL in force (the default of 30 days when it has none)."""
        ttl = self.template.message_send_ttl_seconds
        return MARKETING_TTL_DEFAULT_SECONDS if ttl in (None, -1) else ttl

    def in_ad_sync(self, now: float | None = None) -> bool:
        """Whether the template is still in ad sync."""
        return (time.monotonic() if now is None else now) < self.ad_sync_until


def _has_url_button(template: SandboxTemplate) -> bool:
    return any(
        str(button.get("type", "")).upper() == "URL"
        for component in template.components
        if str(component.get("type", "")).upper() == "BUTTONS"
        for button in component.get("buttons", [])
    )


class TemplateCatalog:
    """Templates by (name, language), in creation order.

    Example:
        >>> catalog = TemplateCatalog(default_templates())
        >>> catalog.get("spring_sale", "en").body_parameter_count
        2
    """

    def __init__(self, templates: list[SandboxTemplate]) -> None:
        self.entries: list[CatalogEntry] = []
        self._by_key: dict[tuple[str, str], CatalogEntry] = {}
        for template in templates:
            self.add(template, ad_sync_seconds=0.0)

    def get(self, name: str, language: str) -> CatalogEntry | None:
        """The template with this name and language, if any."""
        return self._by_key.get((name, language))

    def add(self, template: SandboxTemplate, *, ad_sync_seconds: float) -> CatalogEntry:
        """Add a template (numbering it when it has no id) and start its ad sync."""
        if template.id is None:
            template = template.model_copy(update={"id": str(2000000000000000 + len(self.entries))})
        info = template.info()
        entry = CatalogEntry(
            template=template,
            index=len(self.entries),
            body_parameter_count=info.body_parameter_count,
            has_url_button=_has_url_button(template),
        )
        self._start_ad_sync(entry, ad_sync_seconds)
        self.entries.append(entry)
        self._by_key[(template.name, template.language)] = entry
        return entry

    def set_ttl(self, entry: CatalogEntry, ttl_seconds: int, *, ad_sync_seconds: float) -> None:
        """Change a template's TTL and start its ad sync (the caller validated the value)."""
        entry.template = entry.template.model_copy(update={"message_send_ttl_seconds": ttl_seconds})
        self._start_ad_sync(entry, ad_sync_seconds)

    @staticmethod
    def _start_ad_sync(entry: CatalogEntry, ad_sync_seconds: float) -> None:
        entry.ad_sync_until = time.monotonic() + ad_sync_seconds if ad_sync_seconds > 0 else 0.0

    def listing(self) -> dict[str, Any]:
        """The `GET /v1/configs/templates` answer, as `TemplateInfo` reads it."""
        rows = [entry.template.model_dump(mode="json") for entry in self.entries]
        return {"count": len(rows), "waba_templates": rows}

    def info(self, entry: CatalogEntry) -> TemplateInfo:
        """The entry as `mmapi.templates.TemplateInfo`."""
        return entry.template.info()
