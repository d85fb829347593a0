"""Normalizes the actors of an event to the groups analysts track in its country.

Each country's definition (`events/data/countries/ISO3.json`, `actor_groups`) lists its groups
in order, with patterns over actor names; the groups it forecasts one by one (`tracked`:
features, per-actor forecasts, the API's ?actor=) and the rest, which are only counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

# A tracked group's key as the API, alert rules and feature names use it.
GROUP_KEY = re.compile(r"[a-z][a-z0-9_]{0,19}", re.ASCII)
OTHER = "other"


@dataclass(frozen=True, slots=True)
class ActorPattern:
    """A pattern over actor names; with `since`, only for events that start on or after it (a
    name that changes hands, e.g. a government taken over)."""

    pattern: re.Pattern[str]
    since: date | None = None

    def matches(self, actor: str, day: date | None) -> bool:
        if self.since is not None and (day is None or day < self.since):
            return False
        return self.pattern.search(actor) is not None

    @classmethod
    def parse(cls, item: str | Mapping[str, str]) -> ActorPattern:
        if isinstance(item, str):
            return cls(re.compile(item))
        since = item.get("since")
        return cls(re.compile(item["pattern"]), date.fromisoformat(since) if since else None)


@dataclass(frozen=True, slots=True)
class ActorGroup:
    group: str
    label: str
    patterns: tuple[ActorPattern, ...]


@dataclass(frozen=True, slots=True)
class ActorClassifier:
    """Ordered groups; the first group with a pattern matching any actor wins."""

    groups: tuple[ActorGroup, ...] = ()
    fallback: str = OTHER
    fallback_label: str = "Other"
    tracked: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [g.group for g in self.groups]
        for key in (*names, *self.tracked):
            if not GROUP_KEY.fullmatch(key):
                raise ValueError(f"actor group {key!r}: use lower-case letters, digits and _")
        unknown = set(self.tracked) - set(names)
        if unknown:
            raise ValueError(f"tracked actor groups {sorted(unknown)} have no patterns")

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> ActorClassifier:
        """From a country definition's `actor_groups` (none: every actor is 'other')."""
        if not spec:
            return cls()
        groups = tuple(
            ActorGroup(
                group=item["group"],
                label=item["label"],
                patterns=tuple(ActorPattern.parse(p) for p in item["patterns"]),
            )
            for item in spec["groups"]
        )
        fallback = spec.get("fallback", {"group": OTHER, "label": "Other"})
        return cls(groups, fallback["group"], fallback["label"], tuple(spec.get("tracked", ())))

    @property
    def names(self) -> tuple[str, ...]:
        return (*(g.group for g in self.groups), self.fallback)

    def label(self, group: str) -> str:
        for item in self.groups:
            if item.group == group:
                return item.label
        return self.fallback_label if group == self.fallback else group

    def classify(self, actors: Iterable[str | None], day: date | None = None) -> str:
        present = [actor for actor in actors if actor]
        for group in self.groups:
            if any(p.matches(actor, day) for p in group.patterns for actor in present):
                return group.group
        return self.fallback


def tracked_union(classifiers: Sequence[ActorClassifier]) -> tuple[str, ...]:
    """Every country's tracked groups, each once, in order of first appearance."""
    return tuple(dict.fromkeys(g for c in classifiers for g in c.tracked))
