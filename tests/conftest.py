"""Shared fixtures: a real SQLite file and a real Postgres database for every store test.

``engine`` is parametrised over both backends, so a test written once proves the same
behaviour on each. Postgres tests use a throwaway database created for this session on
the server at ``PULSEBOARD_TEST_POSTGRES`` (default: the local server, database
``test``). Outside CI an unreachable server skips them; with ``CI=true`` it fails them,
because a CI run that silently skipped half the suite proves nothing.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from streamlit import config as st_config

os.environ["PULSEBOARD_CONFIG"] = "/nonexistent/pulseboard.toml"  # a developer's own file must not leak in
os.environ.setdefault("PULSEBOARD_DEMO", "0")
# Page tests run as a local "no login" session unless they switch auth on (tests/test_auth_*.py
# do); the loopback address is what a real server must be bound to for that.
os.environ.setdefault("PULSEBOARD_AUTH", "off")

from core.config import Settings, load_settings
from core.ingest.writer import series_cache
from core.store.engine import dispose_engines, make_engine
from core.store.migrate import upgrade
from core.store.schema import metadata
from core.ui.schema_check import set_checking

st_config.set_option("server.address", "127.0.0.1")  # AppTest sessions count as a localhost-bound server
# .streamlit/config.toml hides exception details from browsers; tests are development and want them.
st_config.set_option("client.showErrorDetails", "full")
set_checking(True)  # every chart a test draws is checked against the Vega-Lite schema; the app skips the check

POSTGRES_ADMIN_URL = os.environ.get("PULSEBOARD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _postgres_unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"Postgres is required in CI but unreachable at {POSTGRES_ADMIN_URL}: {reason}")
    pytest.skip(f"Postgres unreachable at {POSTGRES_ADMIN_URL}: {reason}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh, empty Postgres database that is dropped after the session."""
    name = f"pulseboard_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as error:
        admin.dispose()
        _postgres_unavailable(str(error.orig).strip().splitlines()[0])
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", "pg"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, unmigrated database of the test's own on each backend, for tests whose subject is the migrations."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield engine
        engine.dispose()
        return
    postgres_url = request.getfixturevalue("postgres_url")  # skips (or fails in CI) when Postgres is unreachable
    name = f"pulseboard_fresh_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = make_engine(sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False))
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def _pg_engine_session(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _truncate(engine: Engine) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with engine.begin() as connection:
        connection.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")


@pytest.fixture
def sqlite_engine(_sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite file of this test's own."""
    path = tmp_path / "pulseboard.db"
    shutil.copy(_sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    series_cache(engine).clear()
    engine.dispose()


@pytest.fixture
def pg_engine(_pg_engine_session: Engine) -> Iterator[Engine]:
    """The session's migrated Postgres database, emptied for this test."""
    _truncate(_pg_engine_session)
    series_cache(_pg_engine_session).clear()
    yield _pg_engine_session
    series_cache(_pg_engine_session).clear()


@pytest.fixture(params=["sqlite", "pg"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on a real SQLite file and on a real Postgres database."""
    return request.getfixturevalue(f"{request.param}_engine")  # type: ignore[no-any-return]


@pytest.fixture
def settings(engine: Engine, tmp_path: Path) -> Iterator[Settings]:
    """Settings pointing at ``engine``'s database and a private data folder, demo off."""
    yield load_settings(
        database_url=engine.url.render_as_string(hide_password=False),
        data_dir=tmp_path,
        inbox_dir=tmp_path / "inbox",
        demo=False,
        collectors=False,
    )
    dispose_engines()  # engines that code under test opened through get_engine(settings)


@pytest.fixture
def app_store(engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Engine]:
    """Point the process settings, which page scripts read, at this test's database; empty every cache around it."""
    import streamlit as st

    from core.config import get_settings
    from core.query import clear_cache

    monkeypatch.setenv("PULSEBOARD_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PULSEBOARD_DATA_DIR", str(tmp_path))
    for clear in (get_settings.cache_clear, clear_cache, st.cache_data.clear):
        clear()
    yield engine
    for clear in (get_settings.cache_clear, clear_cache, st.cache_data.clear):
        clear()
    dispose_engines()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium driven by Playwright, one for the whole run (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    from tests.live import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    """A fresh browser tab, 1400 × 1000, in its own context (no cookies shared between tests)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()


@pytest.fixture
def slas(engine: Engine) -> Iterator[Engine]:
    """The test's store holding the default SLA definitions, with no query results cached from another test."""
    from core import query
    from core.sla import store

    store.seed_defaults(engine)  # Postgres tests start from truncated tables
    query.clear_cache()  # the Postgres engine is shared by the session; so would be cached results
    yield engine
    query.clear_cache()
