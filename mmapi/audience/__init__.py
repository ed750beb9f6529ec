"""Audience: extract a campaign's segment and prepare what to send (Prefect-free).

- `extract_segment` / `extract_query`: a warehouse query or a Parquet/CSV file streamed into
  Parquet in constant memory (DuckDB, any SQLAlchemy URL or engine).
- `prepare_plan`: E.164 numbers, duplicates, suppression, arms, message keys and template
  components → `plan.parquet` + `rejects.parquet`.
- The pieces, usable on their own: `normalize_phones`, `assign_arms` / `arm_of` /
  `message_key`, `TemplateRenderer` / `check_template_parameters`, `SuppressionList`.
"""

from .arms import *  # noqa: F403
from .arms import __all__ as _arms_all
from .extract import *  # noqa: F403
from .extract import __all__ as _extract_all
from .files import *  # noqa: F403
from .files import __all__ as _files_all
from .phones import *  # noqa: F403
from .phones import __all__ as _phones_all
from .prepare import *  # noqa: F403
from .prepare import __all__ as _prepare_all
from .render import *  # noqa: F403
from .render import __all__ as _render_all
from .slots import *  # noqa: F403
from .slots import __all__ as _slots_all
from .sources import *  # noqa: F403
from .sources import __all__ as _sources_all
from .suppression import *  # noqa: F403
from .suppression import __all__ as _suppression_all

__all__ = [
    *_arms_all,
    *_extract_all,
    *_files_all,
    *_phones_all,
    *_prepare_all,
    *_render_all,
    *_slots_all,
    *_sources_all,
    *_suppression_all,
]
