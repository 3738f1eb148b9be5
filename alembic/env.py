"""Alembic environment: runs on the connection core.store.migrate hands over, or on the configured URL."""

from __future__ import annotations

from alembic import context

from core.store.schema import metadata


def run_migrations() -> None:
    """Run migrations on a given connection (from the app) or a fresh engine (from the CLI)."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    from core.config import get_settings
    from core.store.engine import make_engine

    with make_engine(get_settings().resolved_database_url).begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
