"""Fixtures of the landing tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    """An empty folder for raw webhook files."""
    folder = tmp_path / "raw"
    folder.mkdir()
    return folder


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """The landing's output folder."""
    return tmp_path / "lake"
