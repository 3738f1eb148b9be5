"""The store: one schema on SQLite or Postgres, migrated by Alembic, reached through one engine.

Also the tiers built from it: rollups, retention, collector state. The bottom layer: may import only
config and model.
"""

from core.store.engine import get_engine, make_engine
from core.store.migrate import current_revision, head_revision, upgrade

__all__ = ["current_revision", "get_engine", "head_revision", "make_engine", "upgrade"]
