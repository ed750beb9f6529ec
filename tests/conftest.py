"""Fixtures shared by the whole suite."""

from __future__ import annotations

import uuid
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


POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL of a fresh Postgres database on 127.0.0.1:5432, dropped afterwards.

    Fails (never skips) when Postgres is not there: the shared-ledger tests must run in CI.
    """
    import sqlalchemy

    name = f"mmflow_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


# Fixtures too costly to build twice: under `pytest -n 3` (pytest-xdist, --dist loadgroup)
# every test that uses one runs in the same worker as the others that do.
EXPENSIVE_SHARED_FIXTURES = ("demo_run", "prefect_server")


# Before pytest-xdist's own hook, which turns the marker into the group it schedules by.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for name in EXPENSIVE_SHARED_FIXTURES:
            if name in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(name))
                break
