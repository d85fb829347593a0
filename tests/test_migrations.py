"""The Alembic migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text

import events.tables
import service.alerts.tables
import service.keys
import training.issuing
import training.jobs
import training.registry
import training.track_record
from store.db import make_engine, migrate, schema_is_current
from store.metadata import metadata
from training.issued import issued_forecasts

# Every module that declares tables, so the metadata holds the whole schema.
OWNERS = (events.tables, training.registry, training.jobs, training.issuing, service.keys,
          service.alerts.tables, training.track_record)  # fmt: skip


def test_migrated_schema_matches_the_declared_tables(engine: Engine) -> None:
    assert len(OWNERS) == 7 and len(metadata.tables) == 14
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
    assert schema_is_current(engine)
    assert {"events", "ingest_runs", "alembic_version"} <= set(inspect(engine).get_table_names())


def test_migrating_twice_is_harmless(engine: Engine) -> None:
    migrate(engine)
    assert schema_is_current(engine)


def test_text_drivers_of_older_issues_become_structured(engine: Engine) -> None:
    with engine.begin() as conn:  # undo to the schema before drivers were JSON
        conn.execute(text("DELETE FROM alembic_version"))
    fresh = make_engine(engine.url.render_as_string(hide_password=False))
    for table in ("alert_deliveries", "alerts", "alert_rules", "api_keys", "issued_forecasts",
                  "reference_forecasts", "observed_outcomes", "model_status_changes",
                  "model_versions", "jobs", "events", "coverage_spans",
                  "event_counts", "ingest_runs"):  # fmt: skip
        with fresh.begin() as conn:
            conn.execute(text(f"DROP TABLE {table}"))
    migrate(fresh, "0004")
    now = datetime.now(UTC)
    with fresh.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO model_versions (version, freq, status, created_at, as_of, "
                "artifact_dir, sha256, manifest_hmac, metrics) VALUES ('v1', 'month', "
                "'champion', :now, '2021-12', 'v1', 'x', 'y', '{}')"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO issued_forecasts (version, freq, region, origin, horizon, period, "
                "p_event, expected_events, events_p10, events_p50, events_p90, p_severe, "
                "drivers, issued_at) VALUES ('v1', 'month', 'PK-KP', '2021-12', 1, '2022-01', "
                "0.9, 5, 1, 4, 9, 0.2, :drivers, :now)"
            ),
            {
                "drivers": "time since the last event (-1.20); events per period over the last "
                "3 months (+0.41)",
                "now": now,
            },
        )
    migrate(fresh)
    with fresh.connect() as conn:
        drivers = conn.execute(select(issued_forecasts.c.drivers)).scalar_one()
    assert drivers == [
        {"feature": "", "label": "time since the last event", "contribution": -1.2},
        {"feature": "", "label": "events per period over the last 3 months", "contribution": 0.41},
    ]
    fresh.dispose()
