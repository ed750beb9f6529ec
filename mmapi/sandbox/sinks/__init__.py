"""Webhook sinks of the sandbox: a base interface and one module per variant."""

from .base import *  # noqa: F403
from .base import __all__ as _base_all
from .files import *  # noqa: F403
from .files import __all__ as _files_all
from .http import *  # noqa: F403
from .http import __all__ as _http_all
from .memory import *  # noqa: F403
from .memory import __all__ as _memory_all
from .null import *  # noqa: F403
from .null import __all__ as _null_all

__all__ = [*_base_all, *_files_all, *_http_all, *_memory_all, *_null_all]
