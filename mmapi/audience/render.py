"""Template components per row, as the JSON the send request carries, built column-wise.

`TemplateRenderer` checks the spec against the template once (`template_slots`), then turns
each batch of segment rows into a `components` JSON string per row, or a reject naming the
row's first bad column:

- `param_null` / `param_empty`: the column is null, or blank after trimming.
- `param_too_long`: over 1,024 characters (body), 60 (text header), 15 (coupon code) or
  2,000 (URL suffix, media link).
- `param_bad_text`: a new line, a tab, more than 4 spaces in a row or a control character
  in text (Meta refuses them, 132018); any whitespace in a button value.
- `param_not_numeric` / `param_bad_amount`: a currency amount that is not a plain number
  (`10.5`; no thousands separators or decimal commas), or is negative or too large.
- `param_bad_url`: a media link that is not an http(s) URL with a host.

Everything is Arrow compute: values are trimmed, checked and JSON-escaped a column at a time
and joined with the literal JSON around them, so a million rows take about a second. Only
backslash and double quote need escaping, since control characters are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..campaign import CampaignSpec
from ..errors import TemplateMismatchError
from ..templates import TemplateInfo
from .columns import constant_strings
from .settings import CURRENCY_AMOUNT_MAX
from .slots import Slot, template_slots

__all__ = ["RenderedComponents", "TemplateRenderer", "check_template_parameters"]

_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$"
_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f]"
_TEXT_LAYOUT = r"[\n\t]| {5}"  # Meta refuses these in text parameters (error 132018)
_ANY_TEXT_PROBLEM = r"[\x00-\x1f\x7f]| {5}"
_ANY_BUTTON_PROBLEM = r"[\s\x00-\x1f\x7f]"
# Below this many rows, or above this share of distinct values, checking every row is cheaper.
_DEDUPE_MIN_ROWS = 1024
_DEDUPE_MAX_SHARE = 0.25
_URL = r"^https?://[^\s/?#\x00-\x1f\x7f]+[^\s\x00-\x1f\x7f]*$"


@dataclass(frozen=True)
class RenderedComponents:
    """The components JSON per row, or why the row cannot be sent.

    Attributes:
        components: JSON array per row (null where rejected).
        column: The first bad column (null where fine).
        reason: Reject reason (param_null, param_too_long, ...).
        detail: What is wrong, naming the column.

    Example:
        >>> ok = pa.array(["[]"])
        >>> none = pa.nulls(1, pa.string())
        >>> RenderedComponents(ok, none, none, none).reason.null_count
        1
    """

    components: pa.Array
    column: pa.Array
    reason: pa.Array
    detail: pa.Array


@dataclass
class _Checked:
    """One slot over one batch: the JSON of each row's parameter and the first problem."""

    fragment: pa.Array | str
    reason: pa.Array | None
    detail: pa.Array | None


def _as_text(values: pa.Array) -> pa.Array:
    kind = values.type
    if pa.types.is_timestamp(kind):
        return pc.strftime(values, format="%Y-%m-%d %H:%M")
    if pa.types.is_date(kind):
        return pc.strftime(values, format="%Y-%m-%d")
    if pa.types.is_null(kind):
        return pa.nulls(len(values), pa.string())
    if not pa.types.is_string(kind):
        values = pc.cast(values, pa.string())
    return pc.utf8_trim_whitespace(values)


def _escape(values: pa.Array) -> pa.Array:
    return pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')


def _first_problem(
    count: int, checks: list[tuple[pa.Array | np.ndarray, str, pa.Array | str]]
) -> tuple[pa.Array | None, pa.Array | None]:
    """Fold (mask, reason, detail) checks, earlier ones winning, into reason/detail arrays."""
    reason = pa.nulls(count, pa.string())
    detail = pa.nulls(count, pa.string())
    found = False
    for mask, why, what in reversed(checks):
        mask = pc.fill_null(pa.array(mask) if isinstance(mask, np.ndarray) else mask, False)
        if not pc.any(mask).as_py():
            continue
        found = True
        reason = pc.if_else(mask, why, reason)
        detail = pc.if_else(mask, what, detail)
    return (reason, detail) if found else (None, None)


def _check_text(slot: Slot, values: pa.Array, name: str) -> _Checked:
    text = _as_text(values)
    length = pc.utf8_length(text)
    checks: list[tuple[pa.Array | np.ndarray, str, pa.Array | str]] = [
        (text.is_null(), "param_null", f"{name} is null"),
        (pc.equal(length, 0), "param_empty", f"{name} is empty"),
    ]
    too_long = pc.greater(length, slot.max_chars)
    if pc.any(too_long).as_py():
        detail = pc.binary_join_element_wise(
            f"{name} has ", pc.cast(length, pa.string()), f" characters (max {slot.max_chars})", ""
        )
        checks.append((too_long, "param_too_long", detail))
    # One scan for any layout or control character; the precise checks run only if it hits.
    button = slot.component == "button"
    if pc.any(
        pc.match_substring_regex(text, _ANY_BUTTON_PROBLEM if button else _ANY_TEXT_PROBLEM)
    ).as_py():
        control = pc.match_substring_regex(text, _CONTROL)
        checks.append((control, "param_bad_text", f"{name} has control characters"))
        if button:
            spaces = pc.match_substring_regex(text, r"\s")
            checks.append((spaces, "param_bad_text", f"{name} has whitespace"))
        else:
            layout = f"{name} has a new line, a tab or more than 4 spaces in a row"
            checks.append((pc.match_substring_regex(text, _TEXT_LAYOUT), "param_bad_text", layout))
    reason, detail = _first_problem(len(values), checks)
    return _Checked(_escape(pc.fill_null(text, "")), reason, detail)


def _check_url(slot: Slot, values: pa.Array, name: str) -> _Checked:
    text = _as_text(values)
    length = pc.utf8_length(text)
    checks = [
        (text.is_null(), "param_null", f"{name} is null"),
        (pc.equal(length, 0), "param_empty", f"{name} is empty"),
        (
            pc.greater(length, slot.max_chars),
            "param_too_long",
            f"{name} is over {slot.max_chars} chars",
        ),
        (pc.invert(pc.match_substring_regex(text, _URL)), "param_bad_url", f"{name} is no URL"),
    ]
    reason, detail = _first_problem(len(values), checks)
    return _Checked(_escape(pc.fill_null(text, "")), reason, detail)


def _check_currency(slot: Slot, values: pa.Array, name: str) -> _Checked:
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pc.utf8_trim_whitespace(pc.cast(values, pa.string()))
        numeric = pc.match_substring_regex(text, _NUMBER)
        amount = pc.cast(pc.if_else(numeric, text, "0"), pa.float64())
        empty = pc.equal(pc.utf8_length(text), 0)
    else:
        amount = pc.cast(values, pa.float64())
        numeric = pc.is_finite(amount)
        empty = pa.array(np.zeros(len(values), dtype=bool))
    amounts = pc.fill_null(amount, 0.0).to_numpy(zero_copy_only=False)
    finite = np.isfinite(amounts)
    safe = np.where(finite, amounts, 0.0)
    checks = [
        (values.is_null(), "param_null", f"{name} is null"),
        (empty, "param_empty", f"{name} is empty"),
        (pc.invert(numeric), "param_not_numeric", f"{name} is not a number"),
        (safe < 0, "param_bad_amount", f"{name} is negative"),
        (safe > CURRENCY_AMOUNT_MAX, "param_bad_amount", f"{name} is too large"),
    ]
    reason, detail = _first_problem(len(values), checks)
    code = slot.spec.currency
    cents = np.round(safe * 100).astype(np.int64)
    thousandths = np.round(safe * 1000).astype(np.int64)
    fragment = pc.binary_join_element_wise(
        '{"fallback_value":"',
        pc.cast(pa.array(cents // 100), pa.string()),
        ".",
        pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0"),
        f' {code}","code":"{code}","amount_1000":',
        pc.cast(pa.array(thousandths), pa.string()),
        "}",
        "",
    )
    return _Checked(fragment, reason, detail)


def _parameter_json(slot: Slot, checked: _Checked) -> list[pa.Array | str]:
    """The pieces of one parameter object: literal JSON around the row's value."""
    head = f'{{"type":"{slot.api_type}",'
    if slot.spec.parameter_name:
        head += f'"parameter_name":{orjson.dumps(slot.spec.parameter_name).decode()},'
    if slot.api_type == "currency":
        return [head + '"currency":', checked.fragment, "}"]
    if slot.api_type in ("image", "video", "document"):
        return [head + f'"{slot.api_type}":{{"link":"', checked.fragment, '"}}']
    if slot.api_type == "date_time":
        return [head + '"date_time":{"fallback_value":"', checked.fragment, '"}}']
    return [head + f'"{slot.api_type}":"', checked.fragment, '"}']


class TemplateRenderer:
    """Fills a template's parameters from segment columns, row by row, checked.

    Args:
        spec: The campaign spec (`template`, `parameters`).
        template: The template as the template API lists it.
        schema: The segment's schema, to check the columns up front.

    Raises:
        TemplateMismatchError: the spec does not fit the template or the segment.

    Example:
        >>> import pyarrow as pa
        >>> from mmapi.campaign import CampaignSpec
        >>> from mmapi.templates import TemplateInfo
        >>> template = TemplateInfo(name="hi", language="en", category="MARKETING",
        ...     components=[{"type": "BODY", "text": "Hi {{1}}"}])
        >>> spec = CampaignSpec(campaign_id="c", segment={"query": "select 1"},
        ...     template={"name": "hi", "language": "en"},
        ...     parameters={"body": [{"type": "text", "column": "name"}]})
        >>> TemplateRenderer(spec, template).render(pa.table({"name": ["Ana"]})).components[0]
        <pyarrow.StringScalar: '[{"type":"body","parameters":[{"type":"text","text":"Ana"}]}]'>
    """

    def __init__(
        self, spec: CampaignSpec, template: TemplateInfo, schema: pa.Schema | None = None
    ) -> None:
        self.slots = template_slots(spec, template, schema)
        self._constants: dict[int, _Checked] = {}
        for number, slot in enumerate(self.slots):
            if slot.spec.value is None:
                continue
            checked = self._check(slot, pa.array([slot.spec.value]), "the constant value")
            if checked.reason is not None:
                raise TemplateMismatchError(
                    f"{slot.label}: {checked.detail[0].as_py()} ({slot.spec.value[:80]!r})"
                )
            self._constants[number] = _Checked(checked.fragment[0].as_py(), None, None)

    @property
    def columns(self) -> list[str]:
        """The segment columns the template reads."""
        return list(dict.fromkeys(s.spec.column for s in self.slots if s.spec.column))

    @staticmethod
    def _check(slot: Slot, values: pa.Array, name: str) -> _Checked:
        if slot.api_type == "currency":
            check = _check_currency
        elif slot.api_type in ("image", "video", "document"):
            check = _check_url
        else:
            check = _check_text
        if len(values) < _DEDUPE_MIN_ROWS:
            return check(slot, values, name)
        # Names, image links and amounts repeat: check and escape each distinct value once.
        encoded = pc.dictionary_encode(values, null_encoding="encode")
        if len(encoded.dictionary) > _DEDUPE_MAX_SHARE * len(values):
            return check(slot, values, name)
        distinct = check(slot, encoded.dictionary, name)
        index = encoded.indices

        def spread(array: pa.Array | None) -> pa.Array | None:
            return None if array is None else array.take(index)

        fragment = distinct.fragment
        return _Checked(
            fragment if isinstance(fragment, str) else fragment.take(index),
            spread(distinct.reason),
            spread(distinct.detail),
        )

    def render(self, batch: pa.RecordBatch | pa.Table) -> RenderedComponents:
        """Components JSON per row of `batch`, or the first bad column and why."""
        count = batch.num_rows
        pieces: list[pa.Array | str] = ["["]
        reason = pa.nulls(count, pa.string())
        detail = pa.nulls(count, pa.string())
        column = pa.nulls(count, pa.string())
        groups: dict[tuple[str, int, str | None], list[list[pa.Array | str]]] = {}
        for number, slot in enumerate(self.slots):
            checked = self._constants.get(number)
            if checked is None:
                values = batch.column(slot.spec.column)
                if isinstance(values, pa.ChunkedArray):
                    values = values.combine_chunks()
                checked = self._check(slot, values, slot.spec.column)
            if checked.reason is not None:
                first = pc.and_(reason.is_null(), checked.reason.is_valid())
                reason = pc.if_else(first, checked.reason, reason)
                detail = pc.if_else(first, checked.detail, detail)
                column = pc.if_else(first, slot.spec.column, column)
            key = (
                slot.component,
                slot.position if slot.component == "button" else 0,
                slot.sub_type,
            )
            groups.setdefault(key, []).append(_parameter_json(slot, checked))
        for (component, position, sub_type), parameters in groups.items():
            if len(pieces) > 1:
                pieces.append(",")
            if component == "button":
                pieces.append(
                    f'{{"type":"button","sub_type":"{sub_type}","index":{position},"parameters":['
                )
            else:
                pieces.append(f'{{"type":"{component}","parameters":[')
            for i, parameter in enumerate(parameters):
                pieces.extend([","] * (i > 0) + parameter)
            pieces.append("]}")
        pieces.append("]")
        components = _join(pieces, count)
        components = pc.if_else(reason.is_null(), components, pa.scalar(None, pa.string()))
        return RenderedComponents(components, column, reason, detail)


def _join(pieces: list[pa.Array | str], count: int) -> pa.Array:
    """Concatenate literal strings and per-row arrays into one string per row."""
    merged: list[pa.Array | str] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    if all(isinstance(piece, str) for piece in merged):
        return constant_strings("".join(merged), count)
    return pc.binary_join_element_wise(*merged, "")


def check_template_parameters(
    spec: CampaignSpec, template: TemplateInfo, schema: pa.Schema | None = None
) -> TemplateRenderer:
    """Check the spec against the template (and the segment's columns) before any send.

    Returns the renderer to use. Raises `TemplateMismatchError` with every problem found.
    """
    return TemplateRenderer(spec, template, schema)
