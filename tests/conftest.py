"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server (its own database) for every flow test of the session.

    Flow tests ask for it with `pytestmark = pytest.mark.usefixtures("prefect_harness")`;
    tests of `mmapi` never need it, so they don't pay its start-up time.
    """
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
