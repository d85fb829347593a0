"""Artifacts are verified before anything in them is unpickled."""

from __future__ import annotations

import hmac
import json
import logging
import sys
from pathlib import Path

import joblib
import pytest

from training.artifacts import library_versions, load_artifact, write_artifact
from training.manifest import MANIFEST_FILE, MODEL_FILE, ArtifactError, resign, sign

SECRET = "a-test-secret-that-is-long-enough-1234"


class Planted:
    """Unpickling this creates a marker file: proof that the planted code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))  # type: ignore[return-value]


def _artifact(root: Path, model: object = None, **manifest: object) -> tuple[Path, str, str]:
    written = write_artifact(
        root,
        "v1",
        model if model is not None else {"weights": [1.0, 2.0]},
        {"libraries": library_versions(), **manifest},
        SECRET,
    )
    return written.directory, written.sha256, written.manifest_hmac


def test_round_trip_and_manifest(tmp_path: Path) -> None:
    directory, sha, mac = _artifact(tmp_path, as_of="2021-12")
    model, manifest = load_artifact(directory, sha, mac, SECRET)
    assert model == {"weights": [1.0, 2.0]}
    assert manifest.version == "v1" and manifest.sha256 == sha
    assert manifest.body["as_of"] == "2021-12"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v1"]


def test_a_flipped_byte_is_refused(tmp_path: Path) -> None:
    directory, sha, mac = _artifact(tmp_path)
    data = bytearray((directory / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0x01
    (directory / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="does not match its recorded sha256"):
        load_artifact(directory, sha, mac, SECRET)


def test_a_planted_joblib_file_never_runs(tmp_path: Path) -> None:
    directory, sha, mac = _artifact(tmp_path)
    marker = tmp_path / "planted-code-ran"
    joblib.dump(Planted(marker), directory / MODEL_FILE)
    with pytest.raises(ArtifactError, match="sha256"):
        load_artifact(directory, sha, mac, SECRET)
    assert not marker.exists()

    # The attacker also rewrites the manifest to name the planted file: the HMAC catches it.
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    from events.ingest import file_sha256

    manifest["sha256"] = file_sha256(directory / MODEL_FILE)
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="does not verify"):
        load_artifact(directory, manifest["sha256"], mac, SECRET)
    assert not marker.exists()
    # Sanity: the planted file really would have run had it been loaded.
    joblib.load(directory / MODEL_FILE)
    assert marker.exists()


def test_another_secret_is_refused(tmp_path: Path) -> None:
    directory, sha, mac = _artifact(tmp_path)
    with pytest.raises(ArtifactError, match="THREATCAST_SECRET_KEY"):
        load_artifact(directory, sha, mac, "another-secret-entirely-0000000000000")
    body = (directory / MANIFEST_FILE).read_bytes()
    assert sign(body, SECRET) == mac


def test_a_library_version_mismatch_is_refused_unless_allowed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    libraries = {**library_versions(), "scikit-learn": "0.1.0"}
    directory, sha, mac = _artifact(tmp_path, libraries=libraries)
    with pytest.raises(ArtifactError, match=r"scikit-learn 0\.1\.0"):
        load_artifact(directory, sha, mac, SECRET)
    with caplog.at_level(logging.WARNING):
        model, _ = load_artifact(directory, sha, mac, SECRET, allow_version_mismatch=True)
    assert model == {"weights": [1.0, 2.0]}
    assert "scikit-learn 0.1.0" in caplog.text


class Unpicklable:
    def __reduce__(self) -> tuple[object, ...]:
        raise RuntimeError("cannot be saved")


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="cannot be saved"):
        _artifact(tmp_path, model=Unpicklable())
    assert list(tmp_path.iterdir()) == []


def test_an_existing_version_is_never_overwritten(tmp_path: Path) -> None:
    _artifact(tmp_path)
    with pytest.raises(ArtifactError, match="already exists"):
        _artifact(tmp_path)


class Renamed:
    """Stands for a class that a later version of the code no longer has."""


def test_an_artifact_of_older_code_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, sha, mac = _artifact(tmp_path, model=Renamed(), package_version="0.1.0")
    monkeypatch.delattr(sys.modules[__name__], "Renamed")  # the code moved on
    with pytest.raises(ArtifactError, match=r"cannot be loaded by this ThreatCast.*retrain it"):
        load_artifact(directory, sha, mac, SECRET)


def test_a_keyring_verifies_old_signatures_and_resign_moves_them_to_the_new_key(
    tmp_path: Path,
) -> None:
    directory, sha, old_mac = _artifact(tmp_path)
    new = "a-new-secret-after-rotation-0123456789"
    with pytest.raises(ArtifactError, match="does not verify"):
        load_artifact(directory, sha, old_mac, (new,))
    model, _ = load_artifact(directory, sha, old_mac, (new, SECRET))  # the old key still verifies
    new_mac = resign(directory, old_mac, (new, SECRET), new)
    assert new_mac != old_mac
    assert load_artifact(directory, sha, new_mac, (new,))[0] == model
    with pytest.raises(ArtifactError, match="none of the keys"):
        resign(directory, old_mac, ("yet-another-key-that-never-signed-it",), new)


def test_symbolic_links_are_refused(tmp_path: Path) -> None:
    directory, sha, mac = _artifact(tmp_path)
    real = tmp_path / "elsewhere.joblib"
    (directory / MODEL_FILE).rename(real)
    (directory / MODEL_FILE).symlink_to(real)
    with pytest.raises(ArtifactError, match="symbolic link"):
        load_artifact(directory, sha, mac, SECRET)


def test_the_verified_bytes_are_the_bytes_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A swap of model.joblib between the hash check and the unpickling changes nothing: the
    file is read once."""
    directory, sha, mac = _artifact(tmp_path)
    marker = tmp_path / "planted-ran"
    planted = tmp_path / "planted.joblib"
    joblib.dump(Planted(marker), planted)
    real_compare = hmac.compare_digest
    calls = []

    def swap_after_the_hash_check(a: str, b: str) -> bool:
        calls.append(a)
        if len(calls) == 2:  # the manifest's HMAC, then the model's sha256: the race, won
            (directory / MODEL_FILE).write_bytes(planted.read_bytes())
        return real_compare(a, b)

    monkeypatch.setattr("training.artifacts.hmac.compare_digest", swap_after_the_hash_check)
    model, _ = load_artifact(directory, sha, mac, SECRET)
    assert model == {"weights": [1.0, 2.0]} and not marker.exists()
