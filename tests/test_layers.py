"""The tree reads as the data flow: store <- events <- features <- models <- training <- service.

Imports point only upstream, each package declares only its own tables, and the web tier never
touches a model.
"""

from __future__ import annotations

import ast
import subprocess
import sys
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
# Web workers serve what issuing stored: nothing the app imports, directly or not, loads a model
# library, a model family or the write side of training.
MODEL_LIBRARIES = {"sklearn", "statsmodels", "joblib", "scipy"}
WRITE_SIDE = {
    "training.issuing", "training.artifacts", "training.train", "training.backtest",
    "training.runner", "training.operations", "training.changes", "training.metrics",
}  # fmt: skip
MODEL_FAMILIES = {
    "models.base", "models.direct", "models.reference", "models.count_regression",
    "models.boosting", "models.ensemble", "models.fatalities", "models.fatality_regression",
    "models.actors", "models.distributions",
}  # fmt: skip
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


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _loaded_at_import(path: Path) -> set[str]:
    """Modules a module imports when it is imported: its top-level imports (not those inside
    functions, which run when called, nor those only for type checkers)."""
    names: set[str] = set()
    for node in _tree(path).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for inner in ast.walk(node) if not isinstance(node, ast.FunctionDef | ast.ClassDef) else []:
            if isinstance(inner, ast.Import):
                names |= {alias.name for alias in inner.names}
            elif isinstance(inner, ast.ImportFrom) and inner.level == 0 and inner.module:
                names.add(inner.module)
                names |= {f"{inner.module}.{alias.name}" for alias in inner.names}
    return names


def _import_closure(start: str) -> tuple[set[str], set[str]]:
    """(project modules, outside top-level packages) loaded by importing `start`."""
    files = {_module_name(p): p for package in LAYERS for p in _modules(package)}
    seen: set[str] = set()
    outside: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in files:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # packages run first
        for imported in _loaded_at_import(files[name]):
            if imported in files:
                todo.append(imported)
            elif imported.split(".")[0] not in LAYERS:
                outside.add(imported.split(".")[0])
    return seen, outside


def test_the_web_app_loads_no_model_nor_the_write_side() -> None:
    loaded, outside = _import_closure("service.app")
    assert {"service.routes.forecasts", "training.issued", "models.laws"} <= loaded
    assert loaded & (WRITE_SIDE | MODEL_FAMILIES) == set()
    assert outside & MODEL_LIBRARIES == set()
    assert not any(name.startswith("service.cli") for name in loaded)
    # The closure is real: the CLI, which computes, reaches the write side and the models.
    cli, cli_outside = _import_closure("service.cli.main")
    assert cli >= WRITE_SIDE and "models.direct" in cli and "joblib" in cli_outside


def test_a_fresh_interpreter_importing_the_app_loads_no_model_library() -> None:
    probe = (
        "import sys, service.app\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1].split(',')) "
        "| {m for m in sys.modules if m in set(sys.argv[2].split(','))}))"
    )
    forbidden = ",".join(sorted(MODEL_LIBRARIES))
    modules = ",".join(sorted(WRITE_SIDE | MODEL_FAMILIES))
    shown = subprocess.run(
        [sys.executable, "-c", probe, forbidden, modules],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert shown.stdout.strip() == "[]"
    # The probe sees what it looks for: the CLI does load them.
    loaded = subprocess.run(
        [sys.executable, "-c", probe.replace("service.app", "service.cli.main"), forbidden, modules],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert "joblib" in loaded.stdout and "training.issuing" in loaded.stdout


def test_the_web_tier_never_imports_a_model_loader() -> None:
    files = [p for p in _modules("service") if "cli" not in p.relative_to(ROOT).parts]
    assert len(files) > 5
    violations = {str(path.relative_to(ROOT)): sorted(_loaders(path)) for path in files}
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
