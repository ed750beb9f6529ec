"""Fixtures of the analytics tests: the hand-made campaign of `scenario.py`, built once."""

from __future__ import annotations

import pytest

from mmapi.analytics import AnalyticsBuild, ReportSettings, build_analytics

from .scenario import AS_OF, Inputs, write_scenario


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    return write_scenario(tmp_path_factory.mktemp("scenario"))


@pytest.fixture(scope="module")
def built(scenario: Inputs, tmp_path_factory: pytest.TempPathFactory) -> AnalyticsBuild:
    """The scenario built as of T0 + 13 h with the bundled example rate card."""
    out = tmp_path_factory.mktemp("built")
    return build_analytics(
        scenario.sends, scenario.events, out, settings=ReportSettings(as_of=AS_OF)
    )
