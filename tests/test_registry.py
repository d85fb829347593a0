"""The registry: statuses, exactly one champion, promotion, rollback, and the audit trail."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError

from store.db import write_transaction
from training import registry
from training.registry import model_versions


def _promote(engine: Engine, version: str, actor: str, reason: str) -> registry.ModelVersion:
    with write_transaction(engine) as conn:
        return registry.promote(conn, version, actor, reason)


def _rollback(engine: Engine, freq: str, actor: str, reason: str) -> registry.ModelVersion:
    with write_transaction(engine) as conn:
        _, previous = registry.rollback_target(conn, freq)
        return registry.rollback(conn, freq, previous.version, actor, reason)


def _register(engine: Engine, version: str, freq: str = "month") -> registry.ModelVersion:
    return registry.register(
        engine,
        version=version,
        series=f"pak-ucdp-{freq}",
        freq=freq,
        as_of="2021-12",
        artifact_dir=version,
        sha256="0" * 64,
        manifest_hmac="1" * 64,
        metrics={"brier": 0.12},
        actor="cli",
    )


def test_promote_second_then_roll_back(engine: Engine) -> None:
    first, second = _register(engine, "v1"), _register(engine, "v2")
    assert (first.status, second.status) == ("candidate", "candidate")
    assert registry.champion(engine, "pak-ucdp-month") is None

    _promote(engine, "v1", "cli", "first model")
    _promote(engine, "v2", "ops-key", "better Brier")
    assert registry.champion(engine, "pak-ucdp-month").version == "v2"  # type: ignore[union-attr]
    assert registry.get(engine, "v1").status == "retired"

    back = _rollback(engine, "pak-ucdp-month", "ops-key", "v2 misbehaves")
    assert back.version == "v1" and back.status == "champion"
    assert registry.get(engine, "v2").status == "retired"

    trail = [(c.from_status, c.to_status, c.actor) for c in registry.history(engine, "v1")]
    assert trail == [
        (None, "candidate", "cli"),
        ("candidate", "champion", "cli"),
        ("champion", "retired", "ops-key"),
        ("retired", "champion", "ops-key"),
    ]
    assert "v2 misbehaves" in registry.history(engine, "v2")[-1].reason


def test_rollback_twice_goes_back_in_history(engine: Engine) -> None:
    for version in ("v1", "v2", "v3"):
        _register(engine, version)
        _promote(engine, version, "cli", "newer")
    assert _rollback(engine, "pak-ucdp-month", "cli", "bad").version == "v2"
    # Rolling back again returns to the champion before the current one: v3, the one just left.
    assert _rollback(engine, "pak-ucdp-month", "cli", "undo").version == "v3"


def test_champions_are_per_frequency(engine: Engine) -> None:
    _register(engine, "m1")
    _register(engine, "w1", freq="week")
    _promote(engine, "m1", "cli", "monthly")
    _promote(engine, "w1", "cli", "weekly")
    assert registry.champion(engine, "pak-ucdp-month").version == "m1"  # type: ignore[union-attr]
    assert registry.champion(engine, "pak-ucdp-week").version == "w1"  # type: ignore[union-attr]


def test_the_database_refuses_a_second_champion(engine: Engine) -> None:
    _register(engine, "v1")
    _register(engine, "v2")
    _promote(engine, "v1", "cli", "first")
    with pytest.raises(IntegrityError), write_transaction(engine) as conn:
        conn.execute(
            update(model_versions).where(model_versions.c.version == "v2").values(status="champion")
        )
    assert registry.get(engine, "v2").status == "candidate"


def test_refusals_say_what_to_do(engine: Engine) -> None:
    with pytest.raises(registry.RegistryError, match="no model version 'nope'"):
        _promote(engine, "nope", "cli", "x")
    with pytest.raises(registry.RegistryError, match="no pak-ucdp-month champion"):
        _rollback(engine, "pak-ucdp-month", "cli", "x")
    _register(engine, "v1")
    _promote(engine, "v1", "cli", "first")
    with pytest.raises(registry.RegistryError, match="nothing to roll back to"):
        _rollback(engine, "pak-ucdp-month", "cli", "x")
    with pytest.raises(registry.RegistryError, match="already the pak-ucdp-month champion"):
        _promote(engine, "v1", "cli", "again")
    with pytest.raises(registry.RegistryError, match="promote another version"):
        registry.set_status(engine, "v1", "retired", "cli", "x")
    with pytest.raises(registry.RegistryError, match="use promote or rollback"):
        registry.set_status(engine, "v1", "champion", "cli", "x")


def test_shadow_and_retire_are_recorded(engine: Engine) -> None:
    _register(engine, "v1")
    registry.set_status(engine, "v1", "shadow", "cli", "watch it")
    registry.set_status(engine, "v1", "retired", "cli", "done")
    assert [c.to_status for c in registry.history(engine, "v1")] == [
        "candidate",
        "shadow",
        "retired",
    ]
    assert [mv.version for mv in registry.list_versions(engine, "pak-ucdp-month")] == ["v1"]
    assert registry.list_versions(engine, "week") == []


def test_a_gated_promotion_is_a_compare_and_swap(engine: Engine) -> None:
    """The gate judges a candidate against the champion it saw; a promotion made meanwhile (by
    hand, or by another gate) wins, and the gated one is refused inside its transaction."""
    for version in ("v1", "v2", "v3"):
        _register(engine, version)
    _promote(engine, "v1", "cli", "first")
    judged_against = registry.champion(engine, "pak-ucdp-month")
    assert judged_against is not None and judged_against.version == "v1"
    _promote(engine, "v2", "ops", "promoted by hand while v3 was judged")
    with (
        pytest.raises(registry.ChampionChanged, match="champion changed meanwhile"),
        write_transaction(engine) as conn,
    ):
        registry.promote(conn, "v3", "gate", "passed", replaces=judged_against.version)
    assert registry.champion(engine, "pak-ucdp-month").version == "v2"  # type: ignore[union-attr]
    assert registry.get(engine, "v3").status == "candidate"
    with pytest.raises(registry.ChampionChanged), write_transaction(engine) as conn:
        registry.promote(conn, "v3", "gate", "passed", replaces=None)
    with write_transaction(engine) as conn:
        registry.promote(conn, "v3", "gate", "passed", replaces="v2")
    assert registry.champion(engine, "pak-ucdp-month").version == "v3"  # type: ignore[union-attr]
