"""Apply Alembic migrations from code, so the app upgrades its own store at start.

Several replicas may start at once against one Postgres; an advisory lock makes
exactly one of them run the upgrade while the others wait and then find it done.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from core.config import ROOT

MIGRATION_LOCK_KEY = 0x50756C7365  # "Pulse": one advisory lock id shared by all replicas


def alembic_config() -> Config:
    """Alembic configuration pointing at the project's migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(ROOT / "alembic"))
    return config


def head_revision() -> str:
    """The newest migration the code knows about."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "alembic/versions holds no migration"
    return head


def current_revision(connection: Connection) -> str | None:
    """The migration the database is at, or None for an empty database."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    # Read the table directly: MigrationContext would log at INFO on every readiness probe.
    return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the newest), keeping its data."""
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
