"""The PostgreSQL server of the connect tests (one per session, see kraft.testing.postgres_server).

Missing binaries, wal2json or psycopg fail the tests in CI (``CI`` set) and skip them, with the
reason, elsewhere: ``apt-get install postgresql postgresql-15-wal2json`` provides the server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from kraft.testing.postgres_server import PostgresServer, PostgresUnavailable

Postgres = PostgresServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        message = f"PostgreSQL tests cannot run: {exc} (apt-get install postgresql postgresql-15-wal2json)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        server.start()
        yield server
    finally:
        server.stop()
