"""Prepare: audience.parquet → plan.parquet (what to send) + rejects.parquet (what not, and why).

Two passes over the audience file, so memory stays bounded by a few columns plus one batch:

1. The recipient (and region) column only: numbers to E.164 (`normalize_phones`),
   duplicates after normalisation (the first row keeps the number; later rows are rejected
   as `duplicate`, naming that row), suppression (`SuppressionList`), then the message key and
   arm of every remaining recipient (`assign_arms`).
2. Every column, batch by batch: template components rendered and checked per row
   (`TemplateRenderer`); sendable rows go to the plan with the segment's own columns,
   the others to rejects with their reason.

Each row is rejected once, for the first failing step in that order: number, duplicate,
suppression, template parameters. `source_row` is the row's 0-based position in the audience
file. The spec is checked against the template and the segment's columns before anything
else (`TemplateMismatchError`).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..campaign import CampaignSpec
from ..errors import SpecError
from ..models import Component
from ..schemas import PLAN_SCHEMA, REJECTS_SCHEMA
from ..templates import TemplateInfo
from .arms import assign_arms
from .columns import constant_strings, scatter
from .files import ParquetSink
from .phones import normalize_phones
from .render import RenderedComponents, TemplateRenderer
from .settings import DEFAULT_BATCH_ROWS, PLAN_FILE, RAW_PREVIEW_CHARS, REJECTS_FILE
from .suppression import SuppressionList

__all__ = ["PrepareResult", "plan_schema", "prepare_plan"]

# Rendered rows checked against the request models, as a guard against a rendering bug.
_SELF_CHECK_ROWS = 20


@dataclass(frozen=True)
class PrepareResult:
    """What prepare wrote, with the counts a person wants to see.

    Attributes:
        plan_path: plan.parquet.
        rejects_path: rejects.parquet.
        rows: Rows in the audience.
        planned: Messages in the plan.
        rejected: Rows in rejects.
        rejected_by_reason: Rejects per reason.
        arms: Planned messages per arm.
        countries: Planned messages per recipient country.
        suppression: Suppressed recipients found per source (before overlaps).
        distinct_numbers: Distinct (value, region) pairs normalised.
        slow_numbers: Of those, how many needed the per-value phonenumbers path.
        seconds: Wall time.

    Example:
        >>> result = PrepareResult(Path("plan.parquet"), Path("rejects.parquet"), 3, 2, 1)
        >>> result.as_dict()["plan_path"], result.planned
        ('plan.parquet', 2)
    """

    plan_path: Path
    rejects_path: Path
    rows: int
    planned: int
    rejected: int
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    arms: dict[str, int] = field(default_factory=dict)
    countries: dict[str, int] = field(default_factory=dict)
    suppression: dict[str, int] = field(default_factory=dict)
    distinct_numbers: int = 0
    slow_numbers: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain data (paths as strings) for task results, logs and campaign.json."""
        data = asdict(self)
        data.update(plan_path=str(self.plan_path), rejects_path=str(self.rejects_path))
        data["seconds"] = round(self.seconds, 3)
        return data


def plan_schema(segment: pa.Schema) -> tuple[pa.Schema, list[str]]:
    """PLAN_SCHEMA followed by the segment's columns; clashing names get a `segment_` prefix.

    Returns:
        The plan's schema and the names the segment's columns take in it.

    Example:
        >>> plan_schema(pa.schema([("phone", pa.string()), ("country", pa.string())]))[1]
        ['phone', 'segment_country']
    """
    taken = set(PLAN_SCHEMA.names)
    names = []
    for name in segment.names:
        new = name
        while new in taken:
            new = f"segment_{new}"
        taken.add(new)
        names.append(new)
    fields = [pa.field(n, f.type) for n, f in zip(names, segment, strict=True)]
    return pa.schema([*PLAN_SCHEMA, *fields]), names


@dataclass
class _Audience:
    """Pass 1: per-row recipient decisions over the whole audience."""

    raw: pa.Array
    recipient: pa.Array
    country: pa.Array
    reason: pa.Array
    detail: pa.Array
    alive: np.ndarray
    message_key: pa.Array
    arm: pa.Array
    distinct: int
    slow: int


def _first_rows(recipient: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Per row: is it a later duplicate of a valid number, and the row that keeps the number."""
    encoded = pc.dictionary_encode(recipient)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    valid_rows = np.flatnonzero(codes >= 0)
    first_row = np.zeros(len(encoded.dictionary), dtype=np.int64)
    unique_codes, first_index = np.unique(codes[valid_rows], return_index=True)
    first_row[unique_codes] = valid_rows[first_index]
    keeper = np.where(codes >= 0, first_row[np.maximum(codes, 0)], -1)
    duplicate = (codes >= 0) & (keeper != np.arange(len(codes)))
    return duplicate, keeper


def _pass_one(
    spec: CampaignSpec, audience: pq.ParquetFile, suppression: SuppressionList
) -> _Audience:
    columns = [spec.recipient_column] + ([spec.region_column] if spec.region_column else [])
    head = audience.read(columns=columns)
    raw = head.column(spec.recipient_column).combine_chunks()
    regions = head.column(spec.region_column) if spec.region_column else None
    phones = normalize_phones(raw, spec.default_region, regions)
    count = len(raw)
    reason, detail = phones.reason, phones.detail
    duplicate, keeper = _first_rows(phones.recipient)
    reason = pc.if_else(pa.array(duplicate), "duplicate", reason)
    same_as = pc.binary_join_element_wise(
        "same recipient as row ", pc.cast(pa.array(keeper), pa.string()), ""
    )
    detail = pc.if_else(pa.array(duplicate), same_as, detail)
    alive = phones.valid & ~duplicate
    suppressed = (
        suppression.reasons_for(phones.recipient).is_valid().to_numpy(zero_copy_only=False) & alive
    )
    if suppressed.any():
        mask = pa.array(suppressed)
        reason = pc.if_else(mask, suppression.reasons_for(phones.recipient), reason)
        detail = pc.if_else(mask, "on the campaign's suppression list", detail)
        alive &= ~suppressed
    keys, arms = assign_arms(spec.campaign_id, phones.recipient.filter(pa.array(alive)), spec.arms)
    return _Audience(
        raw=raw,
        recipient=phones.recipient,
        country=phones.country,
        reason=reason,
        detail=detail,
        alive=alive,
        message_key=scatter(count, alive, keys),
        arm=scatter(count, alive, arms),
        distinct=phones.distinct,
        slow=phones.slow,
    )


def _rendered_ahead(
    batches: Iterator[pa.RecordBatch], renderer: TemplateRenderer
) -> Iterator[tuple[pa.RecordBatch, RenderedComponents]]:
    """Render the next batch on a thread while this one is assembled and written.

    pyarrow's kernels release the GIL, so rendering overlaps the caller's work; one batch
    ahead at most, so memory stays bounded.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="render") as pool:
        ahead: deque[tuple[pa.RecordBatch, Future[RenderedComponents]]] = deque()
        for batch in batches:
            ahead.append((batch, pool.submit(renderer.render, batch)))
            if len(ahead) > 1:
                done, future = ahead.popleft()
                yield done, future.result()
        while ahead:
            done, future = ahead.popleft()
            yield done, future.result()


def _plan_batch(
    spec: CampaignSpec,
    schema: pa.Schema,
    first: _Audience,
    rows: slice,
    batch: pa.RecordBatch,
    rendered: RenderedComponents,
    ok: np.ndarray,
) -> pa.RecordBatch:
    """The plan rows of one batch: PLAN_SCHEMA's columns, then the segment's own."""
    keep = pa.array(ok)
    count = int(ok.sum())
    source_row = pa.array(np.arange(rows.start, rows.stop, dtype=np.int64))
    return pa.RecordBatch.from_arrays(
        [
            first.message_key[rows].filter(keep),
            constant_strings(spec.campaign_id, count),
            first.recipient[rows].filter(keep),
            first.country[rows].filter(keep),
            first.arm[rows].filter(keep),
            constant_strings(spec.template.name, count),
            constant_strings(spec.template.language, count),
            rendered.components.filter(keep),
            source_row.filter(keep),
            *(column.filter(keep) for column in batch.columns),
        ],
        schema=schema,
    )


def _rejects_batch(
    spec: CampaignSpec, first: _Audience, rows: slice, rendered: RenderedComponents, ok: np.ndarray
) -> pa.RecordBatch:
    """The rejects of one batch: a recipient-stage reason if any, else the template's."""
    bad = pa.array(~ok)
    source_row = pa.array(np.arange(rows.start, rows.stop, dtype=np.int64))
    phone_reason = first.reason[rows]
    from_phone = phone_reason.is_valid()
    raw_text = pc.utf8_slice_codeunits(pc.cast(first.raw[rows], pa.string()), 0, RAW_PREVIEW_CHARS)
    return pa.RecordBatch.from_arrays(
        [
            constant_strings(spec.campaign_id, int((~ok).sum())),
            source_row.filter(bad),
            raw_text.filter(bad),
            first.recipient[rows].filter(bad),
            pc.if_else(from_phone, spec.recipient_column, rendered.column).filter(bad),
            pc.if_else(from_phone, phone_reason, rendered.reason).filter(bad),
            pc.if_else(from_phone, first.detail[rows], rendered.detail).filter(bad),
        ],
        schema=REJECTS_SCHEMA,
    )


def _self_check(components: pa.Array) -> None:
    for text in components.drop_null()[:_SELF_CHECK_ROWS].to_pylist():
        for component in orjson.loads(text):
            Component.model_validate(component)


def prepare_plan(
    spec: CampaignSpec,
    audience_path: str | Path,
    template: TemplateInfo,
    out_dir: str | Path,
    *,
    events_dir: str | Path | None = None,
    suppression_lists: list[str | Path] | None = None,
    now: datetime | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> PrepareResult:
    """Turn an extracted audience into the campaign's plan and rejects.

    Args:
        spec: The campaign spec.
        audience_path: The extracted segment (audience.parquet).
        template: The template as the template API lists it (checked against the spec).
        out_dir: Where plan.parquet and rejects.parquet go.
        events_dir: Landed events folder for suppression (overrides `spec.suppression`).
        suppression_lists: More suppression list files (e.g. the extracted `list_query`).
        now: End of the 131049 window (default: now).
        batch_rows: Rows per batch in the second pass.

    Returns:
        Paths and counts.

    Raises:
        SpecError: the recipient or region column is missing, or a suppression source is.
        TemplateMismatchError: the spec does not fit the template or the segment.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    with pq.ParquetFile(audience_path) as audience:
        segment = audience.schema_arrow
        for name in (spec.recipient_column, spec.region_column):
            if name is not None and name not in segment.names:
                raise SpecError(
                    f"campaign {spec.campaign_id}: column {name!r} is not in the segment "
                    f"({', '.join(segment.names[:20])})"
                )
        renderer = TemplateRenderer(spec, template, segment)
        suppression = SuppressionList.load(
            spec.suppression,
            default_region=spec.default_region,
            events_dir=events_dir,
            list_paths=list(suppression_lists or []),
            now=now,
        )
        first = _pass_one(spec, audience, suppression)
        schema, _ = plan_schema(segment)
        reasons: Counter[str] = Counter()
        arms: Counter[str] = Counter()
        countries: Counter[str] = Counter()
        offset = 0
        with (
            ParquetSink(out / PLAN_FILE, schema) as plan,
            ParquetSink(out / REJECTS_FILE, REJECTS_SCHEMA) as rejects,
        ):
            batches = audience.iter_batches(batch_size=batch_rows)
            for batch, rendered in _rendered_ahead(batches, renderer):
                rows = slice(offset, offset + batch.num_rows)
                ok = first.alive[rows] & rendered.reason.is_null().to_numpy(zero_copy_only=False)
                if offset == 0:
                    _self_check(rendered.components)
                planned = _plan_batch(spec, schema, first, rows, batch, rendered, ok)
                plan.write(planned)
                arms.update(_counts(planned.column("arm")))
                countries.update(_counts(planned.column("country")))
                rejected = _rejects_batch(spec, first, rows, rendered, ok)
                rejects.write(rejected)
                reasons.update(_counts(rejected.column("reason")))
                offset += batch.num_rows
    return PrepareResult(
        plan_path=out / PLAN_FILE,
        rejects_path=out / REJECTS_FILE,
        rows=offset,
        planned=plan.rows,
        rejected=rejects.rows,
        rejected_by_reason=dict(reasons.most_common()),
        arms=dict(arms.most_common()),
        countries=dict(countries.most_common()),
        suppression=dict(suppression.counts),
        distinct_numbers=first.distinct,
        slow_numbers=first.slow,
        seconds=time.perf_counter() - started,
    )


def _counts(values: pa.Array) -> dict[str, int]:
    counted = pc.value_counts(values)
    return {
        str(value): int(count)
        for value, count in zip(
            counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
        )
    }
