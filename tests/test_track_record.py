"""The live track record: issued forecasts are scored once the data cover their targets, against
references frozen at the issue, on the first release and the latest."""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from events.ingest import ingest_file
from events.panel import build_panel, gazetteer_of
from events.periods import Frequency
from events.series import Series
from features.specs import default_spec
from models.catalog import make_forecaster
from service.app import create_app
from service.settings import Settings
from store.db import make_engine, migrate
from tests.conftest import SECRET, SMALL_TRAINING, run_cli, wait_until
from training import issuing
from training.backtest import BacktestRequest, run_backtest
from training.config import TrainingConfig
from training.installation import Installation
from training.issued import issued_forecasts, reference_forecasts
from training.metrics import score
from training.track_record import (
    ISSUED,
    observed_outcomes,
    record_outcomes,
    scored_rows,
    summarize,
)
from training.train import train_version

UCDP = Series("PAK", "ucdp", Frequency.MONTH)


def _rows_until(source: Path, target: Path, last_day: str) -> Path:
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    column = rows[0].index("date_start")
    kept = [r for r in rows[1:] if r[column].startswith("#") or r[column][:10] <= last_day]
    with target.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([rows[0], *kept])
    return target


@pytest.fixture(scope="module")
def scored_home(tmp_path_factory: pytest.TempPathFactory, recent_ged_file: Path) -> Path:
    """GED 22.1 (from 2010) to 2020-06; forecasts issued at 2019-12 and 2020-06 by models
    trained as of then; then the data through 2021-12 ingested."""
    home = tmp_path_factory.mktemp("scored") / "home"
    home.mkdir()
    store = make_engine(f"sqlite:///{home / 'threatcast.db'}")
    migrate(store)
    until = _rows_until(recent_ged_file, home.parent / "to_2020_06.csv", "2020-06-30")
    ingest_file(store, until, covers=(date(2010, 1, 1), date(2020, 6, 30)))
    installation = Installation(home / "artifacts", SECRET)
    config = TrainingConfig.model_validate(SMALL_TRAINING)
    for as_of in ("2019-12", "2020-06"):
        trained = train_version(
            store, config, artifact_root=home / "artifacts", secret=SECRET, as_of=as_of
        )
        issuing.promote(store, installation, trained.version.version, "cli", as_of)
        issuing.issue(store, installation, origin=as_of)
    code, out = run_cli(home, "ingest", str(recent_ged_file))
    assert code == 0 and "track record: " in out, out
    store.dispose()
    return home


def _store(home: Path) -> Engine:
    return make_engine(f"sqlite:///{home / 'threatcast.db'}")


def test_issued_forecasts_score_as_the_backtest_does(scored_home: Path) -> None:
    store = _store(scored_home)
    rows = scored_rows(store, UCDP.key)
    ours = rows[rows["model"] == ISSUED]
    assert sorted(ours["origin"].unique()) == ["2019-12", "2020-06"]
    assert len(ours) == 2 * 2 * 7  # two origins, horizons 1 and 2, seven regions
    panel = build_panel(store, UCDP)
    request = BacktestRequest(freq=Frequency.MONTH, start="2019-12", end="2020-06",
                              horizons=(1, 2), models=("ensemble",), n_jobs=1)  # fmt: skip
    spec = default_spec(gazetteer_of("PAK"), Frequency.MONTH)
    backtest = run_backtest(panel, request, spec)
    backtest = backtest[backtest["origin"].isin(["2019-12", "2020-06"])]
    expected = score(backtest)
    overall = summarize(rows)["overall"]["first"]
    for metric in (
        "brier",
        "severe_brier",
        "pinball",
        "coverage_p10_p90",
        "pit_coverage_p10_p90",
        "rps",
    ):
        assert overall[ISSUED][metric] == pytest.approx(expected[metric], rel=1e-9), metric
    assert overall[ISSUED]["n"] == expected["n"] == 28


def test_references_are_what_they_said_at_the_issue(scored_home: Path) -> None:
    store = _store(scored_home)
    with store.connect() as conn:
        stored = pd.DataFrame(
            conn.execute(
                select(reference_forecasts).where(reference_forecasts.c.origin == "2019-12")
            )
            .mappings()
            .all()
        )
    assert set(stored["reference"]) == {"climatology", "recent"}
    panel = build_panel(store, UCDP)  # now holding data to 2021-12
    absurd = panel.copy()
    later = absurd["period"] > "2019-12"
    absurd.loc[later, ["events", "fatalities"]] = 10**6  # what followed must not matter
    spec = default_spec(gazetteer_of("PAK"), Frequency.MONTH)
    for name in ("climatology", "recent"):
        again = make_forecaster(name, spec, (1, 2)).fit(absurd).predict(absurd, "2019-12", (1, 2))
        mine = stored[stored["reference"] == name].sort_values(["horizon", "region"])
        again = again.sort_values(["horizon", "region"])
        np.testing.assert_allclose(mine["p_event"].to_numpy(), again["p_event"].to_numpy())
        np.testing.assert_allclose(mine["events_p90"].to_numpy(), again["events_p90"].to_numpy())


def test_a_revised_release_is_scored_again_and_the_first_score_kept(
    scored_home: Path, recent_ged_file: Path, tmp_path: Path
) -> None:
    store = _store(scored_home)
    with recent_ged_file.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [r for r in reader if r["date_start"].startswith("2020-07") and r["adm_1"]]
    event = rows[0]  # a real event of July 2020, its death toll revised by a newer release
    revised = {**event, "best": str(int(event["best"]) + 30), "high": str(int(event["high"]) + 30)}
    newer = tmp_path / "revision.csv"
    with newer.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(event))
        writer.writeheader()
        writer.writerow(revised)
    day = date.fromisoformat(event["date_start"][:10])
    assert ingest_file(store, newer, covers=(day, day)).updated == 1
    assert record_outcomes(store).revised == 1
    summary = summarize(scored_rows(store, UCDP.key))
    assert summary["revised_targets"] == 1
    first, latest = summary["overall"]["first"][ISSUED], summary["overall"]["latest"][ISSUED]
    assert first["brier"] == latest["brier"]  # the month had events either way
    assert first["severe_brier"] != latest["severe_brier"] or first["pinball"] == latest["pinball"]
    july = next(m for m in summary["months"] if m["period"] == "2020-07")
    assert set(july["first"]) == {ISSUED, "climatology", "recent"}


def test_the_track_record_is_served_and_printed(scored_home: Path) -> None:
    settings = Settings(home=scored_home, secret_key=SECRET)
    with TestClient(create_app(settings)) as client:
        body = client.get("/v1/track-record").json()
        assert body["series"] == "pak-ucdp-month" and body["models"] == [
            ISSUED,
            "climatology",
            "recent",
        ]
        assert [m["period"] for m in body["months"]] == ["2020-01", "2020-02", "2020-07", "2020-08"]
        skill = {(s["release"], s["reference"]): s for s in body["skill"]}
        overall = body["overall"]["first"]
        assert all(overall[m]["rps"] > 0 for m in (ISSUED, "climatology", "recent"))
        recent = skill[("first", "recent")]
        assert recent["interval_low"] <= recent["brier_skill"] <= recent["interval_high"]
        assert {r["region"] for r in body["rolling_skill"]} == set(gazetteer_of("PAK").codes)
        kp = client.get("/v1/track-record", params={"region": "PK-KP", "horizon": 1}).json()
        assert kp["overall"]["first"][ISSUED]["n"] == 2
        assert client.get("/v1/track-record", params={"from": "2020-13"}).status_code == 422
        assert client.get("/v1/track-record", params={"source": "acled"}).json()["months"] == []
        metrics = client.get("/metrics").text
        assert (
            'threatcast_track_record_skill{reference="recent",series="pak-ucdp-month"}' in metrics
        )
    code, out = run_cli(scored_home, "track-record")
    assert code == 0 and "skill against recent (first release)" in out, out


def test_a_forecast_says_why_it_changed_and_the_parts_add_up(scored_home: Path) -> None:
    store = _store(scored_home)
    installation = Installation(scored_home / "artifacts", SECRET)
    champion = issuing.load_version(store, installation, series=UCDP.key)
    _, table = issuing.issue(store, installation, origin="2020-09")  # three more months of data
    kp = table[(table["region"] == "PK-KP") & (table["horizon"] == 1)].iloc[0]
    change = kp["change"]
    assert change["previous_origin"] == "2020-06"
    assert change["previous_version"] == champion.record.version  # same champion: data moved
    assert change["delta_p_event"] == pytest.approx(
        kp["p_event"] - change["previous_p_event"], abs=1e-6
    )
    parts = change["contributions"]
    assert sum(p["delta"] for p in parts) == pytest.approx(change["delta_p_event"], abs=1e-5)
    assert {p["source"] for p in parts} <= {"revision", "data", "calendar"}
    labels = {p["label"] for p in parts if p["feature"]}
    drivers = {d["label"] for d in kp["drivers"]}
    assert labels and all(" over the last " in label or label in drivers or "since" in label
                          for label in labels)  # the drivers' words  # fmt: skip
    assert any("in the last 3 months" in fact for fact in change["facts"])
    for row in table.to_dict(orient="records"):
        if row["change"]:
            total = sum(p["delta"] for p in row["change"]["contributions"])
            assert total == pytest.approx(row["change"]["delta_p_event"], abs=1e-5)
    settings = Settings(home=scored_home, secret_key=SECRET)
    with TestClient(create_app(settings)) as client:
        served = client.get("/v1/forecasts", params={"region": "PK-KP", "horizon": 1}).json()
    assert served["data"][0]["change"]["contributions"] == parts
    with store.connect() as conn:  # the promotion at 2020-06: a new champion on the same data
        promoted = conn.execute(
            select(issued_forecasts.c.change).where(
                issued_forecasts.c.version == champion.record.version,
                issued_forecasts.c.origin == "2020-06",
                issued_forecasts.c.region == "PK-KP",
                issued_forecasts.c.horizon == 1,
            )
        ).scalar_one()
    assert (
        promoted["previous_origin"] == "2020-06"
        and promoted["previous_version"] != champion.record.version
    )
    assert [p["source"] for p in promoted["contributions"]] == ["model"]


def test_the_track_record_is_computed_once_per_change_and_served_with_an_etag(
    scored_home: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(scored_home, home)
    settings = Settings(home=home, secret_key=SECRET)
    with TestClient(create_app(settings)) as client:
        server = client.app.state.server  # type: ignore[attr-defined]
        first = client.get("/v1/track-record")
        etag = first.headers["etag"]
        assert first.status_code == 200 and len(server.scored) == 1
        again = client.get("/v1/track-record")
        assert again.headers["etag"] == etag and again.content == first.content
        assert client.get("/v1/track-record", headers={"If-None-Match": etag}).status_code == 304
        # The client takes gzip: the body came compressed, once, under its own ETag.
        assert first.headers["content-encoding"] == "gzip" and etag.endswith('-gz"')
        plain = client.get("/v1/track-record", headers={"Accept-Encoding": "identity"})
        assert plain.content == first.content and "content-encoding" not in plain.headers
        filtered = client.get("/v1/track-record", params={"region": "PK-KP"})
        assert filtered.headers["etag"] != etag and len(server.scored) == 1  # rows scored once

        store = make_engine(f"sqlite:///{home / 'threatcast.db'}")
        with store.begin() as conn:  # a newer release revises an outcome
            conn.execute(
                observed_outcomes.update()
                .where(
                    observed_outcomes.c.period == "2020-07", observed_outcomes.c.region == "PK-KP"
                )
                .values(fatalities=observed_outcomes.c.fatalities + 100, seen_at=datetime.now(UTC))
            )
        # Seen within the few seconds the stamp is cached for.
        wait_until(
            lambda: (
                client.get("/v1/track-record", headers={"If-None-Match": etag}).status_code == 200
            ),
            timeout_s=15,
        )
        assert client.get("/v1/track-record").headers["etag"] != etag
        assert len(server.scored) == 2
