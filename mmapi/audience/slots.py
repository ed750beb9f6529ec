"""The spec's template parameters checked against the template: one slot per parameter.

`template_slots` reads the template (TemplateInfo, Meta's format) and the spec's
`parameters` mapping and returns the slots to fill, in request order (header, body {{1}}..,
buttons by index). Any mismatch stops the campaign before the first request with one
`TemplateMismatchError` listing every problem: wrong body parameter count or names, header
kind (TEXT / IMAGE / VIDEO / DOCUMENT) against the spec's header, a dynamic button without a
parameter or a parameter for a button that takes none, a parameter type the component cannot
take, a constant value that breaks a rule, and columns missing from (or unusable in) the
segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from ..campaign import CampaignSpec, ParameterSpec
from ..errors import TemplateMismatchError
from ..templates import TemplateInfo
from .settings import (
    BODY_TEXT_MAX_CHARS,
    BUTTON_TEXT_MAX_CHARS,
    COUPON_CODE_MAX_CHARS,
    HEADER_TEXT_MAX_CHARS,
    MEDIA_URL_MAX_CHARS,
)

__all__ = ["Slot", "template_slots"]

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_MEDIA = ("image", "video", "document")
# The request's parameter type per button sub_type (Meta's send API).
_BUTTON_API_TYPE = {"url": "text", "quick_reply": "payload", "copy_code": "coupon_code"}
_TEMPLATE_BUTTON = {"URL": "url", "QUICK_REPLY": "quick_reply", "COPY_CODE": "copy_code"}


@dataclass(frozen=True)
class Slot:
    """One template parameter to fill per row.

    Attributes:
        component: header, body or button.
        position: 1-based position in the body, 0 for the header, the button's index.
        spec: The spec's parameter (column or constant).
        api_type: The request's parameter type (text, currency, date_time, image, video,
            document, payload, coupon_code).
        max_chars: Longest value allowed.
        sub_type: The button's sub_type (url, quick_reply, copy_code), else None.
        label: How messages name the slot, e.g. `body {{1}}`.

    Example:
        >>> from mmapi.campaign import ParameterSpec
        >>> Slot("body", 1, ParameterSpec(type="text", column="first_name"), "text", 1024).label
        'body {{1}}'
    """

    component: Literal["header", "body", "button"]
    position: int
    spec: ParameterSpec
    api_type: str
    max_chars: int
    sub_type: str | None = None

    @property
    def label(self) -> str:
        """How error messages name the slot."""
        if self.component == "body":
            return f"body {{{{{self.position}}}}}"
        if self.component == "button":
            return f"button {self.position} ({self.sub_type})"
        return "header"


def _component(template: TemplateInfo, kind: str) -> dict[str, Any] | None:
    return next((c for c in template.components if str(c.get("type")).upper() == kind), None)


def _header_slot(spec: CampaignSpec, template: TemplateInfo, problems: list[str]) -> list[Slot]:
    wanted = spec.parameters.header
    kind = template.header_format
    if kind is None:
        if wanted is not None:
            problems.append("the template has no header, but the spec fills one")
        return []
    if kind == "TEXT":
        if template.header_parameter_count == 0:
            if wanted is not None:
                problems.append("the template's TEXT header takes no parameter")
            return []
        if wanted is None or wanted.type != "text":
            got = "none" if wanted is None else wanted.type
            problems.append(f"the template's TEXT header needs a text parameter (spec: {got})")
            return []
        return [Slot("header", 0, wanted, "text", HEADER_TEXT_MAX_CHARS)]
    if kind.lower() in _MEDIA:
        if wanted is None or wanted.type != kind.lower():
            got = "none" if wanted is None else wanted.type
            problems.append(
                f"header kind mismatch: the template's header is {kind}, the spec gives {got}"
            )
            return []
        return [Slot("header", 0, wanted, kind.lower(), MEDIA_URL_MAX_CHARS)]
    problems.append(f"{kind} headers are not supported")
    return []


def _body_slots(spec: CampaignSpec, template: TemplateInfo, problems: list[str]) -> list[Slot]:
    body = _component(template, "BODY")
    names = list(dict.fromkeys(_PLACEHOLDER.findall(body.get("text", "")))) if body else []
    given = spec.parameters.body
    if names and not all(name.isdigit() for name in names):
        wanted = sorted(names)
        got = sorted(p.parameter_name or "(unnamed)" for p in given)
        if wanted != got:
            problems.append(f"body: the template's named parameters are {wanted}, spec gives {got}")
    elif len(given) != len(names):
        problems.append(
            f"body: the template has {len(names)} parameters, the spec gives {len(given)}"
        )
    slots = []
    for position, parameter in enumerate(given, start=1):
        if parameter.type in _MEDIA:
            problems.append(f"body {{{{{position}}}}}: a {parameter.type} cannot go in the body")
            continue
        slots.append(Slot("body", position, parameter, parameter.type, BODY_TEXT_MAX_CHARS))
    return slots


def _button_slots(spec: CampaignSpec, template: TemplateInfo, problems: list[str]) -> list[Slot]:
    component = _component(template, "BUTTONS")
    buttons = list(component.get("buttons", [])) if component else []
    given = {}
    for button in spec.parameters.buttons:
        if button.index in given:
            problems.append(f"button {button.index}: given twice")
        given[button.index] = button
    slots = []
    for index, button in enumerate(buttons):
        kind = _TEMPLATE_BUTTON.get(str(button.get("type", "")).upper())
        dynamic = kind == "copy_code" or (kind == "url" and "{{" in str(button.get("url", "")))
        wanted = given.pop(index, None)
        if wanted is None:
            if dynamic:
                problems.append(f"button {index} ({kind}) needs a parameter, the spec gives none")
            continue
        if wanted.sub_type != kind:
            problems.append(
                f"button {index}: the template's is {kind}, spec says {wanted.sub_type}"
            )
            continue
        if kind == "url" and not dynamic:
            problems.append(f"button {index}: the template's URL is fixed, it takes no parameter")
            continue
        if wanted.type != "text":
            problems.append(f"button {index}: button parameters are text, not {wanted.type}")
            continue
        limit = COUPON_CODE_MAX_CHARS if kind == "copy_code" else BUTTON_TEXT_MAX_CHARS
        slots.append(Slot("button", index, wanted, _BUTTON_API_TYPE[kind], limit, kind))
    problems.extend(f"button {index}: the template has no such button" for index in given)
    return slots


def _column_problems(slots: list[Slot], schema: pa.Schema) -> list[str]:
    problems = []
    for slot in slots:
        column = slot.spec.column
        if column is None:
            continue
        if column not in schema.names:
            shown = ", ".join(schema.names[:20])
            problems.append(f"{slot.label}: column {column!r} is not in the segment ({shown})")
            continue
        kind = schema.field(column).type
        if pa.types.is_nested(kind) or pa.types.is_binary(kind) or pa.types.is_dictionary(kind):
            problems.append(f"{slot.label}: column {column!r} has type {kind}, not a scalar")
        elif slot.api_type == "currency" and not (
            pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_decimal(kind)
            or pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
        ):
            problems.append(f"{slot.label}: column {column!r} has type {kind}, not a number")
    return problems


def template_slots(
    spec: CampaignSpec, template: TemplateInfo, schema: pa.Schema | None = None
) -> list[Slot]:
    """The slots the spec fills, checked against the template (and the segment's columns).

    Args:
        spec: The campaign spec (its `template` and `parameters`).
        template: The template as the template API lists it.
        schema: The segment's columns; without it, columns are not checked.

    Returns:
        The slots in request order: header, body parameters, buttons by index.

    Raises:
        TemplateMismatchError: every problem found, in one message.
    """
    problems = []
    if (spec.template.name, spec.template.language) != (template.name, template.language):
        problems.append(
            f"the spec sends {spec.template.name}/{spec.template.language}, "
            f"the template is {template.name}/{template.language}"
        )
    slots = [
        *_header_slot(spec, template, problems),
        *_body_slots(spec, template, problems),
        *_button_slots(spec, template, problems),
    ]
    if schema is not None:
        problems.extend(_column_problems(slots, schema))
    if problems:
        raise TemplateMismatchError(
            f"campaign {spec.campaign_id}: the spec does not fit template "
            f"{template.name}: " + "; ".join(problems)
        )
    return slots
