"""The webhook receiver: an ASGI app that stores every body durably before answering 200.

Bodies are appended to rotating NDJSON segments and synced in groups (see `segments`);
bad input is answered 4xx, never 5xx; `/health` and `/metrics` give the counters. Nothing
here imports Prefect. Run it with `mmflow webhooks serve` or `serve(ReceiverConfig(...))`.

Example:
    >>> from pathlib import Path
    >>> from mmapi.receiver import ReceiverConfig, create_app
    >>> app = create_app(ReceiverConfig(directory=Path("raw"), app_secret="s3cret"))
"""

from .app import *  # noqa: F403
from .app import __all__ as _app_all
from .config import *  # noqa: F403
from .config import __all__ as _config_all
from .metrics import *  # noqa: F403
from .metrics import __all__ as _metrics_all
from .record import *  # noqa: F403
from .record import __all__ as _record_all
from .segments import *  # noqa: F403
from .segments import __all__ as _segments_all
from .server import *  # noqa: F403
from .server import __all__ as _server_all
from .signatures import *  # noqa: F403
from .signatures import __all__ as _signatures_all

__all__ = [
    *_app_all,
    *_config_all,
    *_metrics_all,
    *_record_all,
    *_segments_all,
    *_server_all,
    *_signatures_all,
]
