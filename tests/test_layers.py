"""The tree reads as the data flow: store <- events <- features <- models <- training <- service.

Imports point only upstream, each package declares only its own tables, and the web tier never
touches a model.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["store", "events", "features", "models", "training", "service"]
_WEB = {"fastapi", "starlette", "uvicorn"}
# What each package must never import: the layers after it, and the web stack below service.
FORBIDDEN = {
    package: {*LAYERS[index + 1 :], "tests", "benchmarks"}
    | (_WEB if package != "service" else set())
    for index, package in enumerate(LAYERS)
}
# Models are pure: no database either.
FORBIDDEN["models"] |= {"sqlalchemy"}
# Which package owns (declares) each table.
TABLE_OWNERS = {
    "events": {"events", "ingest_runs", "coverage_spans", "event_counts"},
    "training": {
        "model_versions",
        "model_status_changes",
        "jobs",
        "issued_forecasts",
        "reference_forecasts",
        "observed_outcomes",
    },
    "service": {"api_keys", "alert_rules", "alerts", "alert_deliveries"},
}
# Web workers serve what issuing stored: the HTTP tier never imports a model or its loader.
WEB_TIER = [
    ROOT / "service" / "routes",
    ROOT / "service" / "serving.py",
    ROOT / "service" / "app.py",
]
WEB_FORBIDDEN = {"models", "joblib", "sklearn", "statsmodels"}
MODEL_LOADERS = {"load_artifact", "load_version"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _imported(path: Path) -> set[str]:
    """Every module name imported, with each of its parents ('a.b.c' gives a, a.b, a.b.c)."""
    names = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            names |= {".".join(parts[: i + 1]) for i in range(len(parts))}
    return names


def _modules(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no modules"
    return files


@pytest.mark.parametrize("package", LAYERS)
def test_package_imports_only_upstream(package: str) -> None:
    violations = {
        str(path.relative_to(ROOT)): sorted(_imported(path) & FORBIDDEN[package])
        for path in _modules(package)
    }
    assert {k: v for k, v in violations.items() if v} == {}


def test_every_package_forbids_something_it_could_import() -> None:
    # A rule with nothing in it cannot fail; every layer has somewhere it must not reach.
    assert all(FORBIDDEN[package] for package in LAYERS)


def test_each_package_declares_only_its_own_tables() -> None:
    declared: dict[str, set[str]] = {package: set() for package in LAYERS}
    for package in LAYERS:
        for path in _modules(package):
            for node in ast.walk(_tree(path)):
                if (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "id", None) == "Table"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    declared[package].add(str(node.args[0].value))
    assert {k: v for k, v in declared.items() if v} == TABLE_OWNERS


def test_the_web_tier_never_imports_a_model() -> None:
    files = [p for place in WEB_TIER for p in ([place] if place.is_file() else place.rglob("*.py"))]
    assert len(files) > 5
    violations = {
        str(path.relative_to(ROOT)): sorted((_imported(path) & WEB_FORBIDDEN) | _loaders(path))
        for path in files
    }
    assert {k: v for k, v in violations.items() if v} == {}


def _loaders(path: Path) -> set[str]:
    return {
        alias.name
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name in MODEL_LOADERS
    }


def test_no_print_in_library_code() -> None:
    offenders = []
    for package in LAYERS:
        for path in _modules(package):
            for node in ast.walk(_tree(path)):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
