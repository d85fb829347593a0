"""The front door stays a front door, and the published figures are the reports' own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_results_page_is_generated_from_the_reports() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "write_results.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_readme_is_short_and_opens_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150
    first_screen = "\n".join(lines[:25])
    assert "make serve" in first_screen and "make test" in first_screen


def test_every_document_the_readme_links_exists() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("model", "architecture", "results", "data", "api", "operations"):
        assert f"docs/{name}.md" in text and (ROOT / "docs" / f"{name}.md").is_file()
    assert (ROOT / "CHANGELOG.md").is_file()


def test_the_readme_quotes_the_standard_backtest_as_reported() -> None:
    import json

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = json.loads((ROOT / "docs" / "backtest" / "metrics.json").read_text())
    for row in rows:
        if row["model"] in {"ensemble", "recent"} and row["horizon"] in {"1", "3", "6"}:
            assert f"{row['brier']:.4f}" in readme, row


def test_the_architecture_guide_names_only_what_exists() -> None:
    """Every file, module and `file:NAME` the developer guide points to is there."""
    import importlib
    import importlib.util
    import re

    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    # The worked examples' own new files are the ones that are not there yet.
    quoted = [q for q in re.findall(r"`([^`\s]+)`", text) if not re.search("xyz|my_family", q)]
    files = [q for q in quoted if re.fullmatch(r"[a-z_/]+\.(py|json|md)(:[A-Za-z_]+)?", q)]
    modules = [
        q for q in quoted
        if re.fullmatch(r"(store|events|features|models|training|service)(\.[a-z_]+)+", q)
    ]  # fmt: skip
    assert len(files) >= 8 and len(modules) >= 10
    for reference in files:
        path, _, name = reference.partition(":")
        found = [p for p in (ROOT / path, ROOT / "events" / "data" / path) if p.exists()]
        assert found, reference
        if name:
            assert re.search(
                rf"^{name}\b|^def {name}\b|^class {name}\b", found[0].read_text(), re.M
            )
    for reference in modules:  # `package.module` or `package.module.attribute`
        parent, _, last = reference.rpartition(".")
        if importlib.util.find_spec(parent) is not None and hasattr(
            importlib.import_module(parent), last
        ):
            continue
        assert importlib.util.find_spec(reference) is not None, reference
