"""Fixtures of the sandbox tests."""

from __future__ import annotations

import pytest

from .helpers import SandboxFactory, open_sandbox


@pytest.fixture(name="open_sandbox")
def open_sandbox_fixture() -> SandboxFactory:
    """Open an in-process sandbox: `async with open_sandbox(p_500=1.0) as sb: ...`."""
    return open_sandbox
