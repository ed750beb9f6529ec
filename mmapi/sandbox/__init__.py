"""A local stand-in for 360dialog's MM API and Meta's webhooks, for tests, benchmarks and demos.

It answers `/marketing_messages`, `/messages` and `/v1/configs/templates` as 360dialog does,
decides each accepted message's fate, plays its status, click and preference webhooks on a
simulated clock (with duplicates, disorder and batching), and keeps the ground truth to
score a pipeline against. Nothing in it talks to the internet.

Example:
    >>> from mmapi.sandbox import SandboxConfig, SandboxServer
    >>> with SandboxServer(SandboxConfig(latency_ms=100)) as server:  # doctest: +SKIP
    ...     server.flush()
"""

from .app import *  # noqa: F403
from .app import __all__ as _app_all
from .catalog import SandboxTemplate, default_templates
from .config import *  # noqa: F403
from .config import __all__ as _config_all
from .groundtruth import GroundTruth
from .runtime import SandboxRuntime
from .server import *  # noqa: F403
from .server import __all__ as _server_all
from .sinks import *  # noqa: F403
from .sinks import __all__ as _sinks_all

__all__ = [
    *_app_all,
    *_config_all,
    *_server_all,
    *_sinks_all,
    "GroundTruth",
    "SandboxRuntime",
    "SandboxTemplate",
    "default_templates",
]
