"""Imports point only upstream: features <- models <- training <- service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["features", "models", "training", "service"]
# What each package must never import (its downstream layers and the web stack).
FORBIDDEN = {
    "features": {"models", "training", "service", "fastapi", "starlette"},
    "models": {"training", "service", "fastapi", "starlette", "sqlalchemy"},
    "training": {"service", "fastapi", "starlette"},
    "service": set(),
}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", LAYERS)
def test_package_imports_only_upstream(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no modules"
    violations = {
        str(path.relative_to(ROOT)): sorted(_imported_roots(path) & FORBIDDEN[package])
        for path in files
    }
    assert {k: v for k, v in violations.items() if v} == {}


def test_no_print_in_library_code() -> None:
    offenders = []
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
