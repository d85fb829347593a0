"""Normalizes the actors of an event to the groups analysts track."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

from events.bundled import ACTOR_GROUPS_FILE

# The groups forecast one by one (features, per-actor forecasts, the API's ?actor=): the three
# campaigns analysts in Pakistan prepare for. The others (state, other) are only counted.
TrackedGroup = Literal["ttp", "iskp", "baloch"]
TRACKED_GROUPS: tuple[TrackedGroup, ...] = get_args(TrackedGroup)


@dataclass(frozen=True, slots=True)
class ActorGroup:
    group: str
    label: str
    patterns: tuple[re.Pattern[str], ...]


@dataclass(frozen=True, slots=True)
class ActorClassifier:
    """Ordered groups; the first group with a pattern matching any actor wins."""

    groups: tuple[ActorGroup, ...]
    fallback: str
    fallback_label: str

    @classmethod
    def from_file(cls, path: Path) -> ActorClassifier:
        spec = json.loads(path.read_text(encoding="utf-8"))
        groups = tuple(
            ActorGroup(
                group=item["group"],
                label=item["label"],
                patterns=tuple(re.compile(pattern) for pattern in item["patterns"]),
            )
            for item in spec["groups"]
        )
        return cls(groups, spec["fallback"]["group"], spec["fallback"]["label"])

    @property
    def names(self) -> tuple[str, ...]:
        return (*(g.group for g in self.groups), self.fallback)

    def classify(self, actors: Iterable[str | None]) -> str:
        present = [actor for actor in actors if actor]
        for group in self.groups:
            if any(p.search(actor) for p in group.patterns for actor in present):
                return group.group
        return self.fallback


@lru_cache(maxsize=1)
def default_classifier() -> ActorClassifier:
    return ActorClassifier.from_file(ACTOR_GROUPS_FILE)
