"""The logger a task uses: the Prefect run logger in a run, a module logger under `.fn()`."""

from __future__ import annotations

import logging

from prefect import get_run_logger
from prefect.exceptions import MissingContextError


def task_logger(name: str) -> logging.Logger | logging.LoggerAdapter:
    """The run logger inside a run; `logging.getLogger(name)` when called as `.fn()`."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(name)
