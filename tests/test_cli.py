"""The threatcast command line, run as a user runs it."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.settings import get_settings
from tests.conftest import DATA, SMALL_TRAINING, free_port
from tests.real_data import GED_20_1, GED_22_1


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[tuple[CliRunner, dict[str, str]]]:
    get_settings.cache_clear()
    env = {"THREATCAST_HOME": str(tmp_path / "home"), "THREATCAST_DATABASE_URL": ""}
    yield CliRunner(), env
    get_settings.cache_clear()


def _run(cli: tuple[CliRunner, dict[str, str]], *args: str, **env: str) -> tuple[int, str, str]:
    runner, base_env = cli
    get_settings.cache_clear()
    result = runner.invoke(app, list(args), env={**base_env, **env})
    return result.exit_code, result.stdout, result.stderr


def test_ingest_reports_counts_and_is_idempotent(cli: tuple[CliRunner, dict[str, str]]) -> None:
    code, out, _ = _run(cli, "ingest", str(GED_20_1))
    assert code == 0, out
    assert "added 5834, updated 0, unchanged 0, missing now 0" in out

    code, out, _ = _run(cli, "ingest", str(GED_22_1), "--json")
    report = json.loads(out)
    assert (code, report["added"], report["updated"], report["missing_now"]) == (0, 586, 53, 4)

    code, out, _ = _run(cli, "ingest", str(GED_22_1))
    assert "added 0, updated 0, unchanged 6416, missing now 0" in out


def test_dry_run_changes_nothing(cli: tuple[CliRunner, dict[str, str]]) -> None:
    code, out, _ = _run(cli, "ingest", str(DATA / "gtd_pakistan_sample.csv"), "--dry-run")
    assert code == 0 and "added 6" in out and "would be applied" in out
    code, out, _ = _run(cli, "events", "summary")
    assert "the event store is empty" in out


def test_malformed_file_exits_non_zero_with_line_and_reason(
    cli: tuple[CliRunner, dict[str, str]], tmp_path: Path
) -> None:
    lines = (DATA / "acled_pakistan_sample.csv").read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace(
        ",Clash with BLA near Jiwani.,2,", ",Clash with BLA near Jiwani.,-2,"
    )
    bad = tmp_path / "acled_bad.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")

    code, _, err = _run(cli, "ingest", str(bad))
    assert code == 1
    assert "line 4: fatalities must be at least 0, got -2" in err
    assert "nothing was stored" in err

    code, out, _ = _run(cli, "ingest", str(bad), "--skip-invalid")
    assert code == 0 and "added 5" in out and "line 4: fatalities must be at least 0" in out


def test_unknown_layout_and_bad_options_are_refused(
    cli: tuple[CliRunner, dict[str, str]], tmp_path: Path
) -> None:
    other = tmp_path / "notes.csv"
    other.write_text("a,b\n1,2\n", encoding="utf-8")
    code, _, err = _run(cli, "ingest", str(other))
    assert code == 1 and "notes.csv: line 1: unknown column layout" in err

    code, _, err = _run(cli, "ingest", str(other), "--source", "cast")
    assert code == 2 and "'cast' is not one of" in err

    code, _, err = _run(cli, "ingest", str(tmp_path / "missing.csv"))
    assert code == 2 and "does not exist" in err


def test_events_summary_groupings(cli: tuple[CliRunner, dict[str, str]]) -> None:
    _run(cli, "ingest", str(GED_22_1))
    code, out, _ = _run(cli, "events", "summary", "--by", "region")
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    assert code == 0
    assert rows["PK-KP"][0] == "4741"
    assert rows["(unresolved)"][0] == "45"
    assert rows["total"][0] == "6416"
    code, out, _ = _run(cli, "events", "summary", "--by", "actor")
    assert code == 0 and "ttp" in out and "baloch" in out
    code, out, _ = _run(cli, "events", "summary", "--by", "year")
    assert out.splitlines()[1].split() == ["1989", "20", "114"]


def test_panel_export(cli: tuple[CliRunner, dict[str, str]], tmp_path: Path) -> None:
    _run(cli, "ingest", str(GED_22_1))
    out_file = tmp_path / "panel.csv"
    code, out, _ = _run(
        cli,
        "panel",
        "--freq",
        "month",
        "--start",
        "1989-01",
        "--end",
        "2021-12",
        "--out",
        str(out_file),
    )
    assert code == 0, out
    assert "7 regions x 396 periods, 6371 events" in out
    with out_file.open(encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    assert header[:4] == ["region", "period", "events", "fatalities"]
    assert len(rows) == 2772

    code, _, err = _run(
        cli, "panel", "--freq", "week", "--start", "2024-02", "--out", str(out_file)
    )
    assert code == 2 and "expected YYYY-Www" in err
    code, _, err = _run(cli, "panel", "--as-of", "2020-02-30", "--out", str(out_file))
    assert code == 2 and "is not a date" in err


def test_bootstrap_ingests_the_bundled_data_once(
    cli: tuple[CliRunner, dict[str, str]], tmp_path: Path
) -> None:
    # The first champion's training is what `make serve` runs; a small config keeps it short.
    config = tmp_path / "first.json"
    config.write_text(json.dumps(SMALL_TRAINING))
    code, out, _ = _run(cli, "bootstrap", THREATCAST_BOOTSTRAP_CONFIG=str(config))
    assert code == 0 and "added 6416" in out and "is the first pak-ucdp-month champion" in out
    code, out, _ = _run(cli, "bootstrap", THREATCAST_BOOTSTRAP_CONFIG=str(config))
    assert code == 0 and "already holds 6416 events" in out and "training" not in out


def test_invalid_settings_fail_fast(cli: tuple[CliRunner, dict[str, str]]) -> None:
    code, _, err = _run(cli, "db", "upgrade", THREATCAST_DATABASE_URL="mysql://root@localhost/x")
    assert code == 2 and "THREATCAST_DATABASE_URL" in err and "unsupported database 'mysql'" in err


@pytest.mark.integration
def test_serve_with_bootstrap_trains_a_champion_and_serves_forecasts(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "first.json"
    config.write_text(json.dumps(SMALL_TRAINING))
    env = {
        **os.environ,
        "THREATCAST_HOME": str(tmp_path),
        "THREATCAST_DATABASE_URL": "",
        "THREATCAST_BOOTSTRAP_CONFIG": str(config),
        "OMP_NUM_THREADS": "1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port), "--bootstrap"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/v1/forecasts", timeout=2
                ) as response:
                    body = json.load(response)
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "server did not answer within 180 s"
                time.sleep(0.3)
        assert {f["region"] for f in body["data"]} == {
            "PK-BA", "PK-GB", "PK-IS", "PK-JK", "PK-KP", "PK-PB", "PK-SD",
        }  # fmt: skip
        assert body["data_cutoff"] == "2021-12"
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert (tmp_path / "threatcast.db").exists()
