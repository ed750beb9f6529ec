"""Prefect task: prepare `plan.parquet` and `rejects.parquet` from the extracted audience.

Thin: the work is `mmapi.audience.prepare_plan`; this task takes the extract task's result
(or a path), logs the counts, and returns them as plain data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from mmapi.audience import prepare_plan as prepare_audience
from mmapi.campaign import CampaignSpec
from mmapi.templates import TemplateInfo
from tasks.logs import task_logger


@task(name="prepare_plan", cache_policy=NO_CACHE)
def prepare_plan(
    spec: CampaignSpec,
    audience: dict[str, Any] | str | Path,
    template: TemplateInfo,
    out_dir: str | Path,
    events_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Normalise, dedupe, suppress, assign arms and render components; write plan and rejects.

    Args:
        spec: The campaign spec.
        audience: The `extract_segment` result, or the path of audience.parquet.
        template: The template as the API lists it (checked against the spec first).
        out_dir: The campaign's folder (plan.parquet and rejects.parquet go there).
        events_dir: Landed events for suppression (default: the spec's `suppression.events_dir`).

    Returns:
        `plan_path`, `rejects_path`, `rows`, `planned`, `rejected`, `rejected_by_reason`,
        `arms`, `countries`, `suppression`, `distinct_numbers`, `slow_numbers`, `seconds`.

    Raises:
        TemplateMismatchError: the spec does not fit the template or the segment.
        SpecError: a column or suppression source the spec names is missing.
    """
    logger = task_logger(__name__)
    if isinstance(audience, dict):
        audience_path = audience["audience_path"]
        lists = [audience["suppression_list_path"]] if audience.get("suppression_list_path") else []
    else:
        audience_path, lists = audience, []
    result = prepare_audience(
        spec,
        audience_path,
        template,
        out_dir,
        events_dir=events_dir,
        suppression_lists=lists,
    ).as_dict()
    logger.info(
        "planned %s of %s rows (arms %s); rejected %s: %s",
        result["planned"],
        result["rows"],
        result["arms"],
        result["rejected"],
        result["rejected_by_reason"],
    )
    return result
