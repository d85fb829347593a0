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
    for name in ("model", "results", "data", "api", "operations"):
        assert f"docs/{name}.md" in text and (ROOT / "docs" / f"{name}.md").is_file()
    assert (ROOT / "CHANGELOG.md").is_file()


def test_the_readme_quotes_the_standard_backtest_as_reported() -> None:
    import json

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = json.loads((ROOT / "docs" / "backtest" / "metrics.json").read_text())
    for row in rows:
        if row["model"] in {"ensemble", "recent"} and row["horizon"] in {"1", "3", "6"}:
            assert f"{row['brier']:.4f}" in readme, row
