"""Schemathesis drives every operation of the OpenAPI schema: no input makes the server fail."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from service.app import create_app
from service.keys import create_key
from service.settings import Settings
from tests.conftest import SECRET


def test_no_input_causes_a_server_error(sqlite_served_home: Path) -> None:
    home = sqlite_served_home
    settings_ = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'threatcast.db'}",
        secret_key=SECRET,
        max_upload_bytes=65536,
    )
    app = create_app(settings_)
    with TestClient(app):  # runs the lifespan: engine, champion, metrics
        admin = create_key(app.state.engine, "fuzz-admin", "admin")[1]
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 14
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
            def exercise(case: schemathesis.Case) -> None:
                case.call_and_validate(
                    headers={"Authorization": f"Bearer {admin}"}, checks=[not_a_server_error]
                )

            exercise()
