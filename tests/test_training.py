"""Training jobs on the real GED data: manifests, reproducibility, forecasts, input checks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from events.ingest import ingest_file
from events.inventory import inventory
from events.periods import Frequency
from events.series import Series
from store.db import make_engine
from tests.conftest import DATA, SMALL_TRAINING
from training import issuing, registry
from training.config import TrainingConfig, load_config
from training.installation import Installation
from training.issued import issued_forecasts
from training.issuing import load_version
from training.manifest import MANIFEST_FILE, MODEL_FILE, ArtifactError
from training.train import TrainingError, train_version

SECRET = "a-test-secret-that-is-long-enough-1234"
MANIFEST_FIELDS = {
    "version", "created_at", "as_of", "freq", "data", "config", "feature_spec", "package_version",
    "git_commit", "libraries", "metrics", "sha256", "input_checks",
}  # fmt: skip


@pytest.fixture
def store(recent_home: Path) -> Engine:
    return make_engine(f"sqlite:///{recent_home / 'threatcast.db'}")


def _train(store: Engine, root: Path, **overrides: object) -> registry.ModelVersion:
    config = TrainingConfig.model_validate({**SMALL_TRAINING, **overrides})
    return train_version(store, config, artifact_root=root, secret=SECRET, as_of="2020-12").version


def test_training_registers_a_candidate_with_a_complete_manifest(
    store: Engine, tmp_path: Path
) -> None:
    mv = _train(store, tmp_path / "artifacts")
    assert mv.status == "candidate" and mv.as_of == "2020-12"
    serving = load_version(store, Installation(tmp_path / "artifacts", SECRET), version=mv.version)
    manifest = serving.manifest.body
    assert set(manifest) >= MANIFEST_FIELDS
    assert manifest["sha256"] == mv.sha256
    assert manifest["data"]["newest_event"] <= "2020-12-31"
    assert len(manifest["data"]["fingerprint"]) == 64
    assert set(manifest["libraries"]) == {
        "python",
        "numpy",
        "pandas",
        "scikit-learn",
        "statsmodels",
        "joblib",
    }
    assert manifest["feature_spec"]["freq"] == "month"
    assert manifest["config"]["horizons"] == [1, 2]
    scores = manifest["metrics"]["models"]["ensemble"]["all"]
    assert 0 < scores["brier"] < manifest["metrics"]["models"]["climatology"]["all"]["brier"]
    assert manifest["metrics"]["window"] == {"start": "2020-10", "end": "2020-11", "horizons": [1]}
    assert sorted(p.name for p in (tmp_path / "artifacts" / mv.version).iterdir()) == [
        MANIFEST_FILE,
        MODEL_FILE,
    ]


def test_the_fingerprint_follows_the_training_events(store: Engine, tmp_path: Path) -> None:
    """The manifest records the fingerprint of the events up to the version's cutoff; a later
    cutoff holds other events, so another fingerprint."""
    version = _train(store, tmp_path, backtest_origins=1)
    manifest = load_version(store, Installation(tmp_path, SECRET), version=version.version)
    recorded = manifest.manifest.body["data"]["fingerprint"]
    series = Series("PAK", "ucdp", Frequency.MONTH)
    assert recorded == inventory(store, series, date(2020, 12, 31)).fingerprint
    assert recorded != inventory(store, series, date(2021, 6, 30)).fingerprint


def test_same_seed_same_data_same_predictions_and_metrics(store: Engine, tmp_path: Path) -> None:
    first, second = _train(store, tmp_path / "a"), _train(store, tmp_path / "b")
    assert first.version != second.version
    assert first.metrics == second.metrics
    tables = []
    for mv, root in ((first, tmp_path / "a"), (second, tmp_path / "b")):
        _, table = issuing.issue(store, Installation(root, SECRET), version=mv.version)
        tables.append(table.drop(columns="model_version"))
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)


def test_forecasts_are_issued_from_the_champion_and_stored(store: Engine, tmp_path: Path) -> None:
    mv = _train(store, tmp_path)
    installation = Installation(tmp_path, SECRET)
    with pytest.raises(registry.RegistryError, match="no pak-ucdp-month champion"):
        issuing.issue(store, installation)
    issuing.promote(store, installation, mv.version, "cli", "test")
    with store.connect() as conn:
        stored = conn.execute(select(issued_forecasts)).mappings().all()
    assert len(stored) == 7 * 2 and {r["origin"] for r in stored} == {"2021-12"}
    assert {r["period"] for r in stored} == {"2022-01", "2022-02"}
    drivers = stored[0]["drivers"]
    assert len(drivers) == 3 and set(drivers[0]) == {"feature", "label", "contribution"}
    _, table = issuing.issue(store, installation)  # re-issuing replaces
    assert (table["model_version"] == mv.version).all()
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(issued_forecasts)).scalar_one() == 14
    with pytest.raises(ValueError, match=r"before .* data cutoff 2020-12"):
        issuing.issue(store, installation, origin="2020-06")


def test_a_tampered_champion_is_refused(store: Engine, tmp_path: Path) -> None:
    mv = _train(store, tmp_path)
    model_file = tmp_path / mv.artifact_dir / MODEL_FILE
    model_file.write_bytes(model_file.read_bytes()[:-10])
    installation = Installation(tmp_path, SECRET)
    with pytest.raises(ArtifactError, match="sha256"):
        issuing.promote(store, installation, mv.version, "cli", "test")
    assert registry.get(store, mv.version).status == "candidate"  # refused, so not promoted
    with pytest.raises(ArtifactError, match="sha256"):
        load_version(store, installation, version=mv.version)


def test_training_past_the_data_is_refused_naming_the_gap(store: Engine, tmp_path: Path) -> None:
    config = TrainingConfig.model_validate({**SMALL_TRAINING, "backtest_origins": 1})
    root = tmp_path / "artifacts"
    gap = r"has no data for 2022-01\.\.2022-06.*train up to 2021-12 \(--as-of 2021-12\)"
    with pytest.raises(TrainingError, match=gap):
        train_version(store, config, artifact_root=root, secret=SECRET, as_of="2022-06", force=True)
    assert registry.list_versions(store) == [] and not root.exists()


def test_severe_input_findings_stop_training_unless_forced(store: Engine, tmp_path: Path) -> None:
    # A file that says it covers the first half of 2022 and has no event in it: covered, empty.
    quiet = (date(2022, 1, 1), date(2022, 6, 30))
    ingest_file(store, DATA / "ucdp_candidate_sample.csv", covers=quiet)
    config = TrainingConfig.model_validate({**SMALL_TRAINING, "backtest_origins": 1})
    root = tmp_path / "artifacts"
    with pytest.raises(TrainingError, match="input checks failed") as failure:
        train_version(store, config, artifact_root=root, secret=SECRET, as_of="2022-06")
    severe = {f.check for f in failure.value.findings if f.severity == "severe"}
    assert severe == {"freshness", "empty_periods"}
    assert registry.list_versions(store) == [] and not root.exists()
    forced = train_version(
        store, config, artifact_root=root, secret=SECRET, as_of="2022-06", force=True
    )
    assert forced.version.as_of == "2022-06"
    assert any(f["severity"] == "severe" for f in forced.manifest["input_checks"])


def test_config_files_are_validated(tmp_path: Path) -> None:
    good = tmp_path / "config.toml"
    good.write_text('freq = "week"\nseed = 7\n')
    config = load_config(good)
    assert (config.freq, config.seed, config.horizons) == ("week", 7, (1, 2, 3, 4, 5, 6, 7, 8))
    bad = tmp_path / "bad.json"
    bad.write_text('{"horizons": [9]}')
    with pytest.raises(ValueError, match="horizons must lie between 1 and 6"):
        load_config(bad)
    bad.write_text('{"colour": "red"}')
    with pytest.raises(ValueError, match="colour: Extra inputs are not permitted"):
        load_config(bad)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="cannot read config"):
        load_config(tmp_path / "broken.json")


def test_a_short_series_is_backtested_on_the_origins_its_history_allows() -> None:
    import pandas as pd

    from events.periods import period_range
    from training.config import TrainingConfig
    from training.train import _backtest_origins

    periods = period_range("2013-01", "2021-12", "month")  # 108 months, as ACLED's Afghanistan
    panel = pd.DataFrame({"period": periods})
    config = TrainingConfig.model_validate({"backtest_origins": 72})
    assert _backtest_origins(panel, config, "2021-12") == 12  # 108 months less 96 of history
    with pytest.raises(ValueError, match="backtest_origins = 11"):
        _backtest_origins(panel, config, "2021-11")
    few = TrainingConfig.model_validate({"backtest_origins": 6})
    assert _backtest_origins(panel, few, "2021-11") == 6
