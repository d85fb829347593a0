"""What issuing and jobs need from the installation: where artifacts live, the keys that sign
and verify them, and who hears of each champion issue."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection

from training.issued import Issue


class IssueListener(Protocol):
    """Hears of each champion issue inside the transaction that stores it."""

    def __call__(self, conn: Connection, issue: Issue) -> None: ...


@dataclass(frozen=True)
class Installation:
    """The artifact root, the key that signs (and older keys that still verify), and the
    listener of champion issues (alert evaluation)."""

    artifact_root: Path
    secret: str
    on_champion_issue: IssueListener | None = None
    previous_secrets: tuple[str, ...] = ()

    @property
    def verifying_keys(self) -> tuple[str, ...]:
        return (self.secret, *self.previous_secrets)
