"""The fixtures give a migrated, empty store on both backends."""

import sqlalchemy as sa

from core.ingest import ingest
from core.model import Batch, Sample


def test_engine_is_empty_and_writable(engine, settings):
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM samples")).scalar() == 0
    result = ingest(engine, Batch((Sample.of("up", {"job": "x"}, 1.0),)), settings=settings)
    assert result.samples_written == 1 and result.series_created == 1
