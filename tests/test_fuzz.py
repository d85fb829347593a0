"""Schemathesis over every operation, 200 examples each, and stateful workflows along the links
it infers (create a rule, read it, change it, acknowledge, delete): no input makes the server
fail. Long, so `make fuzz` runs it (CI does), not `make test`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import delete

from service.alerts.tables import alert_deliveries, alert_rules, alerts
from service.app import create_app
from service.keys import create_key
from service.settings import Settings
from store.db import write_transaction
from tests.conftest import SECRET
from training.jobs import jobs

pytestmark = pytest.mark.fuzz
EXAMPLES = 200


@pytest.fixture
def served_app(sqlite_served_home: Path) -> Iterator[tuple[FastAPI, str]]:
    home = sqlite_served_home
    app = create_app(
        Settings(
            home=home,
            database_url=f"sqlite:///{home / 'threatcast.db'}",
            secret_key=SECRET,
            max_upload_bytes=65536,
        )
    )
    with TestClient(app):  # runs the lifespan: engine, issue poller, metrics
        yield app, create_key(app.state.engine, "fuzz-admin", "admin")[1]


def test_every_operation_with_200_examples(served_app: tuple[FastAPI, str]) -> None:
    app, admin = served_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def exercise(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers={"Authorization": f"Bearer {admin}"}, checks=[not_a_server_error]
            )

        exercise()


def test_stateful_workflows(served_app: tuple[FastAPI, str]) -> None:
    app, admin = served_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    machine: Any = schema.as_state_machine()

    class Workflow(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": {"Authorization": f"Bearer {admin}"}}

        def validate_response(self, response: Any, case: schemathesis.Case, **_: Any) -> None:
            case.validate_response(response, checks=[not_a_server_error])

        def teardown(self) -> None:
            # Each workflow starts from the same store, so what one draws never depends on
            # what an earlier one left (rules, alerts, queued jobs).
            with write_transaction(app.state.engine) as conn:
                for table in (alert_deliveries, alerts, alert_rules):
                    conn.execute(delete(table))
                conn.execute(delete(jobs).where(jobs.c.status == "queued"))

    # Generation only: replaying an example against a store that has moved on (ids, times) is
    # not the same example, and a server error found is reported as it happened.
    options = settings(
        max_examples=EXAMPLES,
        stateful_step_count=8,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
        database=None,
    )
    Workflow.run(settings=options)
