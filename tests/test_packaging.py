"""What is shipped is pinned: the lock files cover every dependency and clear the advisories."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
# Releases that fixed a published advisory the review named: nothing older may be locked.
FIXED = {
    "starlette": "0.49.1",  # CVE-2024-47874 (0.40.0), CVE-2025-62727 (0.49.1)
    "python-multipart": "0.0.18",  # CVE-2024-53981
}


def _locked(name: str) -> dict[str, Version]:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", (ROOT / name).read_text(), re.M)
    return {package.lower().replace("_", "-"): Version(version) for package, version in pins}


@pytest.mark.parametrize(
    ("lock", "extra"), [("requirements.lock", None), ("requirements-dev.lock", "dev")]
)
def test_the_lock_pins_every_dependency_within_its_range(lock: str, extra: str | None) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *(project["optional-dependencies"][extra] if extra else [])]
    locked = _locked(lock)
    for line in wanted:
        requirement = Requirement(line)
        name = requirement.name.lower().replace("_", "-")
        assert name in locked, f"{name} is not in {lock}"
        assert locked[name] in requirement.specifier, f"{name} {locked[name]} is outside {line}"
    for name, fixed in FIXED.items():
        assert locked[name] >= Version(fixed), name


def test_the_image_installs_the_lock_on_a_fixed_base() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.M)
    assert base and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base[1])
    assert "pip install -r requirements.lock" in dockerfile and "--no-deps ." in dockerfile
