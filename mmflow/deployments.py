"""The deployments of `prefect.yaml`, served from one process by `mmflow serve`.

`prefect.yaml` is the one place that names the deployments, their parameters and their
schedules. `prefect deploy --all` sends them to a work pool for workers; `serve_deployments`
serves the same deployments from the calling process instead (Prefect's `serve`), for a team
on one machine that runs no worker. Served runs start in the calling process's working
directory, so the relative paths of the parameters are folders of that directory.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mmapi.errors import ConfigurationError

if TYPE_CHECKING:  # Prefect is imported only once the caller has chosen its server
    from prefect.deployments.runner import RunnerDeployment
    from prefect.schedules import Schedule

__all__ = [
    "DEFAULT_CONFIG",
    "DeploymentSpec",
    "check_not_on_a_work_pool",
    "read_deployments",
    "runner_deployment",
    "serve_deployments",
]

DEFAULT_CONFIG = Path("prefect.yaml")
SCHEDULE_KINDS = ("interval", "cron")
SCHEDULE_OPTIONS = ("timezone", "active")
COLLISION_STRATEGIES = ("ENQUEUE", "CANCEL_NEW")


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment of `prefect.yaml`, as `serve_deployments` uses it.

    Attributes:
        name: The deployment's name (`<flow name>/<name>` in Prefect).
        entrypoint: `flows/<file>.py:<function>`.
        parameters: Default parameters of its runs.
        schedules: Each `{"interval": seconds}` or `{"cron": "..."}`, with `timezone`.
        description: Shown in the Prefect UI.
        tags: Tags of the deployment and its runs.
        concurrency_limit: `{"limit": n, "collision_strategy": "ENQUEUE" | "CANCEL_NEW"}`:
            at most n runs at a time; a run due beyond that waits or is cancelled.
    """

    name: str
    entrypoint: str
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    concurrency_limit: dict[str, Any] | None = None


def read_deployments(path: Path = DEFAULT_CONFIG) -> list[DeploymentSpec]:
    """Read the deployments of a `prefect.yaml` file.

    Args:
        path: The file (YAML anchors of its `definitions` are resolved).

    Returns:
        The deployments, in the file's order.

    Raises:
        ConfigurationError: The file is missing or unreadable, or a deployment lacks a name or
            entrypoint, or has a schedule other than one `interval` or `cron`; the message
            names the file, the deployment and the field.
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            f"{path}: not found; run from the project folder or pass --config"
        ) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{path}: cannot read it ({type(exc).__name__})") from None
    entries = document.get("deployments") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{path}: no `deployments` list")
    return [_deployment(path, number, entry) for number, entry in enumerate(entries, 1)]


def _deployment(path: Path, number: int, entry: object) -> DeploymentSpec:
    where = f"{path}: deployment {number}"
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where}: must be a mapping")
    name, entrypoint = entry.get("name"), entry.get("entrypoint")
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{where}: `name` is missing")
    where = f"{path}: deployment {name!r}"
    if not isinstance(entrypoint, str) or ".py:" not in entrypoint:
        raise ConfigurationError(f"{where}: `entrypoint` must be `path/file.py:function`")
    parameters = entry.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ConfigurationError(f"{where}: `parameters` must be a mapping")
    schedules = entry.get("schedules") or []
    if not isinstance(schedules, list):
        raise ConfigurationError(f"{where}: `schedules` must be a list")
    for schedule in schedules:
        keys = set(schedule) if isinstance(schedule, dict) else set()
        kinds = keys & set(SCHEDULE_KINDS)
        if len(kinds) != 1 or keys - set(SCHEDULE_KINDS) - set(SCHEDULE_OPTIONS):
            raise ConfigurationError(
                f"{where}: each schedule needs one of `interval` (seconds) or `cron`, "
                f"with optional {', '.join(SCHEDULE_OPTIONS)}; got {schedule!r}"
            )
    return DeploymentSpec(
        name=name,
        entrypoint=entrypoint,
        parameters=parameters,
        schedules=schedules,
        description=entry.get("description"),
        tags=list(entry.get("tags") or []),
        concurrency_limit=_concurrency_limit(where, entry.get("concurrency_limit")),
    )


def _concurrency_limit(where: str, value: object) -> dict[str, Any] | None:
    """`concurrency_limit` as prefect.yaml allows it: a number, or limit + collision strategy."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"limit": value}
    limit = value.get("limit") if isinstance(value, dict) else None
    strategy = value.get("collision_strategy", "ENQUEUE") if isinstance(value, dict) else None
    if (
        not isinstance(limit, int)
        or isinstance(limit, bool)
        or limit < 1
        or strategy not in COLLISION_STRATEGIES
        or set(value) - {"limit", "collision_strategy"}
    ):
        raise ConfigurationError(
            f"{where}: `concurrency_limit` must be a positive number, or `limit` with "
            f"`collision_strategy` {' or '.join(COLLISION_STRATEGIES)}; got {value!r}"
        )
    return {"limit": limit, "collision_strategy": strategy}


def _schedule(schedule: dict[str, Any]) -> Schedule:
    from prefect.schedules import Cron, Interval

    options = {key: schedule[key] for key in SCHEDULE_OPTIONS if key in schedule}
    if "interval" in schedule:
        return Interval(float(schedule["interval"]), **options)
    return Cron(str(schedule["cron"]), **options)


def runner_deployment(spec: DeploymentSpec) -> RunnerDeployment:
    """The deployment as Prefect's `serve` takes it.

    The flow is imported as a module of the installed project (`flows/x.py:f` →
    `flows.x.f`), so serving works from any folder, not only the checkout.
    """
    file_path, function = spec.entrypoint.rsplit(":", 1)
    module_name = file_path.removesuffix(".py").replace("/", ".")
    try:
        flow = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"deployment {spec.name!r}: cannot load {spec.entrypoint} ({exc})"
        ) from None
    from prefect.client.schemas.objects import ConcurrencyLimitConfig

    limit = spec.concurrency_limit
    return flow.to_deployment(
        name=spec.name,
        parameters=spec.parameters,
        schedules=[_schedule(schedule) for schedule in spec.schedules],
        description=spec.description,
        tags=spec.tags,
        concurrency_limit=ConcurrencyLimitConfig.model_validate(limit) if limit else None,
    )


def check_not_on_a_work_pool(deployments: list[RunnerDeployment]) -> None:
    """Refuse to serve a deployment that `prefect deploy` put on a work pool.

    Serving updates the deployment of the same name but keeps the pool version's pull steps,
    so its runs would fail to load the flow; a team moves from a worker to `mmflow serve`
    by deleting the pool's deployments first.

    Raises:
        ConfigurationError: Naming the deployment, its pool and the command that frees it.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        for deployment in deployments:
            name = f"{deployment.flow_name}/{deployment.name}"
            try:
                existing = client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            if existing.work_pool_name:
                raise ConfigurationError(
                    f"deployment {name} is on work pool {existing.work_pool_name!r} "
                    f"(prefect deploy), for a worker; to serve it instead, stop the worker "
                    f"and run `prefect deployment delete {name}`"
                )


def serve_deployments(deployments: list[RunnerDeployment], *, limit: int | None = None) -> None:
    """Serve deployments on their schedules until Ctrl+C or SIGTERM.

    Each run starts in a process of its own. On the way out the deployments are paused, so
    no schedule piles up runs while nothing serves them; serving them again resumes them.

    Args:
        deployments: From `runner_deployment`.
        limit: Most runs at a time (default: no limit).
    """
    from prefect import serve

    serve(*deployments, limit=limit, print_starting_message=False)
