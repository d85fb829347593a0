"""The installation as issuing and jobs see it: artifacts, the signing key, and alert
evaluation on every champion issue."""

from __future__ import annotations

from sqlalchemy import Connection

from service.alerts.evaluation import evaluate
from service.settings import Settings
from training.installation import Installation
from training.issued import Issue


def installation(settings: Settings) -> Installation:
    def evaluate_alerts(conn: Connection, issue: Issue) -> None:
        evaluate(conn, issue)  # the serving processes deliver to the receivers they are set to

    return Installation(
        settings.artifact_root,
        settings.signing_key,
        evaluate_alerts,
        previous_secrets=settings.verifying_keys[1:],
    )
