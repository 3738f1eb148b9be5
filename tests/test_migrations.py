"""Alembic: an empty database and one left at the first migration both reach head, data intact."""

from __future__ import annotations

import sqlalchemy as sa

from core.model import now_ms
from core.store.engine import make_engine
from core.store.migrate import current_revision, head_revision, upgrade


def test_empty_database_upgrades_to_head(empty_engine):
    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        tables = set(sa.inspect(connection).get_table_names())
    assert {"series", "samples", "events", "samples_1m", "collector_state", "test_runs", "deployments"} <= tables


def test_first_migration_with_data_upgrades_without_loss(empty_engine):
    upgrade(empty_engine, "0001")
    with empty_engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO series (id, fingerprint, name, labels, kind, created_ms) "
                "VALUES (1, 'f', 'up', '{}', 'gauge', 1)"
            )
        )
        connection.execute(sa.text("INSERT INTO samples (series_id, ts, value) VALUES (1, 1000, 1.5), (1, 2000, 2.5)"))
        connection.execute(
            sa.text(
                "INSERT INTO events (id, type, ts, source, data, metadata, received_ms) "
                "VALUES ('e1', 'qa.defect_found', 5, 'qa', '{\"severity\": \"critical\"}', '{}', :now)"
            ),
            {"now": now_ms()},
        )
    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        assert connection.execute(sa.text("SELECT ts, value FROM samples ORDER BY ts")).all() == [
            (1000, 1.5),
            (2000, 2.5),
        ]
        assert connection.execute(sa.text("SELECT type FROM events")).scalar_one() == "qa.defect_found"


def test_upgrade_twice_is_a_no_op(empty_engine):
    upgrade(empty_engine)
    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        assert current_revision(connection) == head_revision()


def test_sqlite_store_uses_wal_and_incremental_vacuum(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    upgrade(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    engine.dispose()
