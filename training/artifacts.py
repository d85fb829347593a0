"""Model artifacts: a directory with `model.joblib` and a signed `manifest.json`.

joblib loading runs code, so nothing is unpickled until the manifest's HMAC (keyed by the
server's secret) and the model file's sha256 both match what the registry recorded. The model
file is read once: the bytes that were verified are the bytes that are loaded.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib

from training.manifest import (
    MANIFEST_FILE,
    MODEL_FILE,
    TEMP_PREFIX,
    ArtifactError,
    Manifest,
    read_manifest,
    read_regular,
    sign,
)

log = logging.getLogger(__name__)

# Libraries whose pickles are only safe to load under the same minor version.
STRICT_LIBRARIES = ("scikit-learn", "statsmodels")
RECORDED_LIBRARIES = ("numpy", "pandas", "scikit-learn", "statsmodels", "joblib")


@dataclass(frozen=True)
class WrittenArtifact:
    directory: Path
    sha256: str
    manifest_hmac: str
    manifest: dict[str, Any]


def library_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in RECORDED_LIBRARIES:
        versions[name] = metadata.version(name)
    return versions


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_artifact(
    root: Path, version: str, model: object, manifest: dict[str, Any], secret: str
) -> WrittenArtifact:
    """Write into a temporary directory, then rename it into place in one step.

    A process killed before the rename leaves only a `.tmp-*` directory, which
    `remove_leftovers` deletes and nothing ever loads.
    """
    root.mkdir(parents=True, exist_ok=True)
    final = root / version
    if final.exists():
        raise ArtifactError(f"artifact {version} already exists")
    temp = root / f"{TEMP_PREFIX}{version}"
    temp.mkdir()
    try:
        buffer = io.BytesIO()
        joblib.dump(model, buffer)
        data = buffer.getvalue()
        _write_synced(temp / MODEL_FILE, data)
        signed = {**manifest, "version": version, "sha256": hashlib.sha256(data).hexdigest()}
        body = json.dumps(signed, indent=2, sort_keys=True, default=str).encode()
        _write_synced(temp / MANIFEST_FILE, body)
        _fsync_dir(temp)
        os.rename(temp, final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return WrittenArtifact(final, signed["sha256"], sign(body, secret), signed)


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def version_mismatches(manifest: Manifest) -> list[str]:
    saved = manifest.libraries
    current = library_versions()
    return [
        f"{name} {saved.get(name)} (running {current[name]})"
        for name in STRICT_LIBRARIES
        if _minor(str(saved.get(name, ""))) != _minor(current[name])
    ]


def load_artifact(
    directory: Path,
    sha256: str,
    manifest_hmac: str,
    keys: Sequence[str],
    *,
    allow_version_mismatch: bool = False,
) -> tuple[object, Manifest]:
    """Verify, then load. Raises ArtifactError before unpickling anything unverified."""
    manifest = read_manifest(directory, manifest_hmac, keys)
    if manifest.sha256 != sha256:
        raise ArtifactError(f"the manifest of {directory.name} names another model file")
    try:
        data = read_regular(directory / MODEL_FILE)
    except OSError:
        raise ArtifactError(f"{directory.name} has no readable {MODEL_FILE}") from None
    actual = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(actual, sha256):
        raise ArtifactError(
            f"{directory.name}/{MODEL_FILE} does not match its recorded sha256 "
            f"({actual[:12]}... != {sha256[:12]}...); refusing to load it"
        )
    mismatches = version_mismatches(manifest)
    if mismatches:
        message = f"{directory.name} was saved by {', '.join(mismatches)}"
        if not allow_version_mismatch:
            raise ArtifactError(f"{message}; retrain, or load with --allow-version-mismatch")
        log.warning("%s; loading anyway as asked", message)
    try:
        model = joblib.load(io.BytesIO(data))
    except Exception as exc:  # verified, but written by code that no longer matches this one
        made_by = f"package {manifest.package_version}, commit {manifest.git_commit}"
        raise ArtifactError(
            f"{directory.name} verifies but cannot be loaded by this ThreatCast "
            f"({type(exc).__name__}: {exc}); it was saved by {made_by}: retrain it"
        ) from None
    return model, manifest
