"""Prefect task: extract the campaign's segment into `audience.parquet`.

Thin: the work is `mmapi.audience.extract_query`. This task only resolves a
`block:<name>` connection (a Prefect SqlAlchemyConnector block) into an engine, which mmapi
cannot do since it never imports Prefect, and logs what was written with the connection's
password masked. It also extracts the spec's suppression `list_query`, if any, on the same
connection, so that prepare reads files only.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.engine import Engine

from mmapi.audience import connection_kind, extract_query, mask_url, segment_query
from mmapi.audience.settings import AUDIENCE_FILE, SUPPRESSION_LIST_FILE
from mmapi.campaign import CampaignSpec
from mmapi.errors import SpecError
from tasks.logs import task_logger


@contextmanager
def _engine(connection: str):
    """The SQLAlchemy engine of a `block:<name>` connection (None for any other), disposed after."""
    if connection_kind(connection) != "block":
        yield None
        return
    from prefect_sqlalchemy import SqlAlchemyConnector

    name = connection.removeprefix("block:")
    try:
        # _sync: this task is sync, even when an async flow calls it (Block.load dispatches).
        connector = SqlAlchemyConnector.load(name, _sync=True)
    except ValueError as exc:
        raise SpecError(f"no SqlAlchemyConnector block named {name!r} ({exc})") from None
    try:
        yield connector.get_engine()
    finally:
        connector.close()  # disposes the engine: nothing is cached between runs


@task(name="extract_segment", cache_policy=NO_CACHE)
def extract_segment(spec: CampaignSpec, out_dir: str | Path) -> dict[str, Any]:
    """Stream the spec's segment into `<out_dir>/audience.parquet`.

    Args:
        spec: The campaign spec (its `segment` and `suppression.list_query`).
        out_dir: The campaign's folder.

    Returns:
        `audience_path`, `rows`, `batches`, `columns`, `seconds`, and
        `suppression_list_path` / `suppression_list_rows` (None without a list query).

    Raises:
        WarehouseUnreachableError: the warehouse cannot be reached or opened (one line).
        ExtractError: the query or file cannot be read.
    """
    logger = task_logger(__name__)
    out = Path(out_dir)
    connection = spec.segment.connection
    engine: Engine | None
    with _engine(connection) as engine:
        audience = extract_query(
            segment_query(spec.segment),
            connection,
            out / AUDIENCE_FILE,
            path=spec.segment.path,
            engine=engine,
        )
        source = spec.segment.path or mask_url(connection)
        logger.info(
            "extracted %s rows in %s batches from %s in %.1f s",
            audience.rows,
            audience.batches,
            source,
            audience.seconds,
        )
        result: dict[str, Any] = {
            **{("audience_path" if k == "path" else k): v for k, v in audience.as_dict().items()},
            "suppression_list_path": None,
            "suppression_list_rows": None,
        }
        if spec.suppression.list_query:
            listed = extract_query(
                spec.suppression.list_query, connection, out / SUPPRESSION_LIST_FILE, engine=engine
            )
            logger.info("extracted a suppression list of %s rows", listed.rows)
            result["suppression_list_path"] = str(listed.path)
            result["suppression_list_rows"] = listed.rows
    return result
