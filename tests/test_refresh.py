"""`threatcast refresh`: the inbox's good files are ingested and their series retrained through
the gate; a bad file is moved aside with its reason and stores nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from events.tables import event_counts
from service.cli.refresh import parse_every
from store.db import make_engine
from tests.conftest import DATA, SMALL_TRAINING, run_cli, settled
from training import jobs, registry
from training.issued import latest_issue_key

ACLED_CSV = DATA / "acled_aggregated_pakistan_sample.csv"


def test_refresh_ingests_good_files_retrains_and_rejects_bad_ones(tmp_path: Path) -> None:
    home = tmp_path / "home"
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    shutil.copy(ACLED_CSV, inbox / "acled_pakistan_2010_2021.csv")
    lines = ACLED_CSV.read_text().splitlines()
    bad_row = lines[4].split(",")
    bad_row[6] = "-3"
    lines[4] = ",".join(bad_row)
    (inbox / "broken.csv").write_text("\n".join(lines[:30]) + "\n")
    (inbox / "still_copying.csv.part").write_text("WEEK\n")
    settled(inbox / "acled_pakistan_2010_2021.csv", inbox / "broken.csv")
    config = tmp_path / "small.json"
    config.write_text(json.dumps(SMALL_TRAINING))

    code, out = run_cli(home, "refresh", "--now", "--config", str(config))
    assert code == 1, out  # a file was rejected: say so to cron
    assert "ingested acled_pakistan_2010_2021.csv (acled)" in out
    assert "rejected broken.csv: broken.csv: 1 of 29 rows are invalid" in out
    assert "retrain pak-acled-month through the promotion gate" in out and "succeeded" in out
    assert (inbox / "done" / "acled_pakistan_2010_2021.csv").exists()
    reason = (inbox / "rejected" / "broken.csv.reason.txt").read_text()
    assert "line 5: EVENTS must be at least 0, got -3" in reason
    assert (inbox / "rejected" / "broken.csv").exists() and (
        inbox / "still_copying.csv.part"
    ).exists()

    store = make_engine(f"sqlite:///{home / 'threatcast.db'}")
    with store.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(event_counts)).scalar_one()
    assert stored == len(ACLED_CSV.read_text().splitlines()) - 1  # nothing of the bad file
    champion = registry.champion(store, "pak-acled-month")
    assert champion is not None and registry.champion(store, "pak-ucdp-month") is None
    assert latest_issue_key(store, champion.version)[0] == "2021-12"  # type: ignore[index]
    assert [j.status for j in jobs.list_jobs(store)] == ["succeeded"]

    code, out = run_cli(home, "refresh")
    assert code == 0 and "nothing new" in out
    code, out = run_cli(home, "worker", "--once", "--refresh-every", "6h")
    assert code == 0 and "nothing new" in out, out
    code, out = run_cli(home, "worker", "--once", "--refresh-every", "sometimes")
    assert code == 2 and "not an interval" in out


@pytest.mark.parametrize(("text", "seconds"), [("6h", 21600), ("30m", 1800), ("1d", 86400)])
def test_refresh_intervals(text: str, seconds: float) -> None:
    assert parse_every(text) == seconds
