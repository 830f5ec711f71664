"""Fixtures of the store tests: every store test runs on SQLite, and on PostgreSQL when there is one.

`TWIN_TEST_POSTGRES_URL` names the server (`.ci/run` starts one); each test then gets a schema of
its own, dropped after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from twin.operate.store import Store, open_store, parse_url

NO_POSTGRES = "no PostgreSQL server: set TWIN_TEST_POSTGRES_URL to run these against one"


def postgres_url() -> str:
    """The PostgreSQL server to test against, or a skip."""
    url = os.environ.get("TWIN_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(NO_POSTGRES)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A URL of an empty store: an SQLite file, or a fresh schema on the PostgreSQL server."""
    if request.param == "sqlite":
        yield str(tmp_path / "live.db")
        return
    base = parse_url(postgres_url())
    schema = f"twin_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(base.set(drivername="postgresql+psycopg"))
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        yield opened
