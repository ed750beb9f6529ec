"""A real Prefect server on Postgres, shared by the deployment tests of this folder.

A production team runs the Prefect server on Postgres (`PREFECT_API_DATABASE_CONNECTION_URL`);
these tests do too, in a database of their own on 127.0.0.1:5432, created here and dropped
afterwards. The server runs every service, the scheduler included (the session harness's
temporary server runs none, so schedules would never produce runs there).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from mmflow.prefect_server import LocalPrefectServer
from tests.deployments.helpers import PREFECT_DATABASE_URL, free_port, postgres_database


@pytest.fixture(scope="package")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrefectServer]:
    """A Prefect server with its own PREFECT_HOME and its own Postgres database.

    `LocalPrefectServer` points this process's environment at the server; the environment
    is restored afterwards so the rest of the suite keeps the session harness.
    """
    saved = dict(os.environ)
    home = tmp_path_factory.mktemp("prefect_home")
    try:
        with (
            postgres_database() as name,
            LocalPrefectServer(
                home, port=free_port(), database_url=PREFECT_DATABASE_URL.format(name=name)
            ) as server,
        ):
            yield server
    finally:
        os.environ.clear()
        os.environ.update(saved)
