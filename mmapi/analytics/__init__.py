"""Analytics of campaigns: per-message status, funnels, costs, MM versus Cloud, and the report.

`build_analytics` runs the SQL in `sql/` over a campaign's sends and its landed webhook events
into `analytics.duckdb` (plus a Parquet file per table); `build_report_files` adds the
self-contained HTML report with its charts. Nothing here imports Prefect.

Example:
    >>> from mmapi.analytics import build_report_files
    >>> files = build_report_files("sends.parquet", "landing", "report")  # doctest: +SKIP
    >>> files.summary.funnel[0]["delivery_rate"]  # doctest: +SKIP
    0.91
"""

from .build import *  # noqa: F403
from .build import __all__ as _build_all
from .charts import *  # noqa: F403
from .charts import __all__ as _charts_all
from .inputs import *  # noqa: F403
from .inputs import __all__ as _inputs_all
from .rates import *  # noqa: F403
from .rates import __all__ as _rates_all
from .report import *  # noqa: F403
from .report import __all__ as _report_all
from .stats import *  # noqa: F403
from .stats import __all__ as _stats_all
from .summary import *  # noqa: F403
from .summary import __all__ as _summary_all

__all__ = [
    *_build_all,
    *_charts_all,
    *_inputs_all,
    *_rates_all,
    *_report_all,
    *_stats_all,
    *_summary_all,
]
