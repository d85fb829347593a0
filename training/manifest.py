"""A model artifact's signed manifest, read and verified without loading the model.

Web workers show manifests; only training.artifacts (workers, the CLI) unpickles a model, and
only after its manifest verifies here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
TEMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class Manifest:
    """A verified manifest: what loading and issuing check, and the whole signed body (the
    config, feature spec, metrics, data fingerprint and input checks) to show."""

    version: str | None
    sha256: str | None
    libraries: Mapping[str, str]
    package_version: str | None
    git_commit: str | None
    body: Mapping[str, Any]

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Manifest:
        return cls(
            body.get("version"),
            body.get("sha256"),
            dict(body.get("libraries", {})),
            body.get("package_version"),
            body.get("git_commit"),
            body,
        )


class ArtifactError(Exception):
    """An artifact is missing, tampered with, or unsafe to load."""


def sign(data: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def read_regular(path: Path) -> bytes:
    """A file's bytes; a symlink is refused (it could point anywhere after verification)."""
    if path.is_symlink():
        raise ArtifactError(f"{path.parent.name}/{path.name} is a symbolic link; refusing it")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def _manifest_body(directory: Path) -> bytes:
    try:
        return read_regular(directory / MANIFEST_FILE)
    except OSError as exc:
        raise ArtifactError(
            f"cannot read the manifest of {directory.name}: {exc.strerror or exc}"
        ) from None


def _verifies(body: bytes, manifest_hmac: str, keys: Sequence[str]) -> bool:
    if isinstance(keys, str):  # one key, not a keyring of its characters
        keys = (keys,)
    return any(hmac.compare_digest(sign(body, key), manifest_hmac) for key in keys)


def read_manifest(directory: Path, manifest_hmac: str, keys: Sequence[str]) -> Manifest:
    """The manifest, only if its HMAC verifies with one of `keys` (the keyring)."""
    body = _manifest_body(directory)
    if not _verifies(body, manifest_hmac, keys):
        raise ArtifactError(
            f"the manifest of {directory.name} does not verify against the registry's signature "
            "(tampered with, or signed with a key that is not THREATCAST_SECRET_KEY or one of "
            "THREATCAST_PREVIOUS_SECRET_KEYS); refusing to load it"
        )
    return Manifest.from_json(json.loads(body))


def resign(directory: Path, manifest_hmac: str, keys: Sequence[str], secret: str) -> str:
    """The manifest's signature under `secret`, once it verifies with one of `keys`."""
    body = _manifest_body(directory)
    if not _verifies(body, manifest_hmac, keys):
        raise ArtifactError(f"the manifest of {directory.name} verifies with none of the keys")
    return sign(body, secret)


def discard(root: Path, version: str) -> list[str]:
    """Delete what a dead job may have left of `version`: its temporary and final directories.

    Only call this for a version no registry row points to.
    """
    removed = []
    for directory in (root / f"{TEMP_PREFIX}{version}", root / version):
        if directory.is_dir():
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory.name)
    return removed
