"""Landing: raw webhook files to deduplicated, partitioned Parquet tables, with DuckDB.

`land(LandingConfig(source=..., out=...))` reads what is new under the source (the
receiver's segments, or exports as NDJSON, JSON documents or gzip), flattens it with the SQL
in `sql/landing/`, and writes `out/events/{statuses,clicks,preferences,account_updates,
quarantine}/dt=YYYY-MM-DD/*.parquet`. Nothing here imports Prefect.

Example:
    >>> from pathlib import Path
    >>> from mmapi.landing import LandingConfig, land
    >>> land(LandingConfig(source="raw/", out=Path("lake"))).as_dict()  # doctest: +SKIP
"""

from .config import *  # noqa: F403
from .config import __all__ as _config_all
from .engine import *  # noqa: F403
from .engine import __all__ as _engine_all
from .lines import *  # noqa: F403
from .lines import __all__ as _lines_all
from .manifest import *  # noqa: F403
from .manifest import __all__ as _manifest_all
from .run import *  # noqa: F403
from .run import __all__ as _run_all
from .schema import *  # noqa: F403
from .schema import __all__ as _schema_all
from .sources import *  # noqa: F403
from .sources import __all__ as _sources_all
from .sql import *  # noqa: F403
from .sql import __all__ as _sql_all
from .writer import *  # noqa: F403
from .writer import __all__ as _writer_all

__all__ = [
    *_config_all,
    *_engine_all,
    *_lines_all,
    *_manifest_all,
    *_run_all,
    *_schema_all,
    *_sources_all,
    *_sql_all,
    *_writer_all,
]
