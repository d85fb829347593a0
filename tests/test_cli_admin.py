"""The admin commands as operators run them: keys, alert rules and alerts, model statuses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.keys import authenticate
from service.settings import get_settings
from store.db import make_engine
from tests.conftest import SECRET


@pytest.fixture
def home(sqlite_served_home: Path) -> Iterator[Path]:
    get_settings.cache_clear()
    yield sqlite_served_home
    get_settings.cache_clear()


def _run(home: Path, *args: str, **settings: str) -> tuple[int, str]:
    get_settings.cache_clear()
    env = {
        "THREATCAST_HOME": str(home),
        "THREATCAST_DATABASE_URL": "",
        "THREATCAST_SECRET_KEY": SECRET,
        "THREATCAST_PREVIOUS_SECRET_KEYS": "[]",
        **{f"THREATCAST_{name.upper()}": value for name, value in settings.items()},
    }
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout + result.stderr


def test_keys_are_shown_once_listed_and_revoked(home: Path) -> None:
    code, out = _run(home, "keys", "create", "--name", "grafana", "--role", "reader")
    token = out.strip().splitlines()[-1]
    assert code == 0 and token.startswith("tc_") and "will not be shown again" in out
    engine = make_engine(f"sqlite:///{home / 'threatcast.db'}")
    assert authenticate(engine, token) is not None
    code, out = _run(home, "keys", "list")
    assert "grafana" in out and token not in out and token[:10] in out
    assert _run(home, "keys", "create", "--name", "grafana")[0] == 1  # names are unique
    assert _run(home, "keys", "create", "--name", "x", "--role", "root")[0] == 2
    assert _run(home, "keys", "revoke", "grafana")[0] == 0
    assert authenticate(engine, token) is None
    assert "revoked" in _run(home, "keys", "list")[1]
    assert _run(home, "keys", "revoke", "grafana")[0] == 1


def test_alert_rules_alerts_and_acknowledgement_from_the_shell(home: Path) -> None:
    code, out = _run(
        home, "alerts", "rules", "add", "--name", "KP", "--region", "PK-KP", "--threshold", "0.5",
        "--severity", "critical", "--horizon", "1",
    )  # fmt: skip
    assert code == 0 and "rule 1 created" in out
    assert _run(home, "alerts", "rules", "add", "--name", "bad", "--threshold", "2")[0] == 2
    assert (
        _run(
            home, "alerts", "rules", "add", "--name", "bad", "--threshold", "0.5", "--region", "XX"
        )[0]
        == 2
    )
    assert "KP: p_event above 0.5 (PK-KP, h=1" in _run(home, "alerts", "rules", "list")[1]

    # Issuing the champion's forecasts evaluates the rules (KP's p_event is near 1).
    assert _run(home, "forecast", "--output", str(home / "issued.csv"))[0] == 0
    code, out = _run(home, "alerts", "list", "--state", "firing")
    assert "firing" in out and "PK-KP" in out
    alert_id = out.split()[0]
    assert _run(home, "alerts", "ack", alert_id, "--comment", "seen")[0] == 0
    assert "acknowledged by cli" in _run(home, "alerts", "list")[1]
    assert _run(home, "alerts", "ack", "999")[0] == 1
    assert _run(home, "alerts", "deliver")[1].strip() == "0 deliveries sent"
    secret = _run(home, "alerts", "webhook-secret")[1].strip()
    assert len(secret) == 64 and secret != SECRET
    assert _run(home, "alerts", "rules", "remove", "1")[0] == 0
    assert _run(home, "alerts", "rules", "remove", "1")[0] == 1


def test_shadow_and_retire_a_candidate(home: Path) -> None:
    champion, candidate = (home / "versions.txt").read_text().split()
    assert _run(home, "models", "shadow", candidate)[0] == 0
    assert _run(home, "models", "retire", candidate, "--reason", "superseded")[0] == 0
    code, out = _run(home, "models", "show", candidate)
    assert "shadow -> retired  by cli: superseded" in out
    # Each backtest row gives the interval's coverage of whole counts and of randomized PITs.
    assert re.search(r"coverage \d\.\d{3} \(PIT 0\.\d{3}\)", out)
    code, out = _run(home, "models", "retire", champion)
    assert code == 1 and "promote another version" in out
    assert _run(home, "models", "show", "nope")[0] == 1


def test_rotating_the_secret_key_with_a_keyring_and_resign(home: Path) -> None:
    new = "a-rotated-secret-key-of-enough-length-42"
    out_file = str(home / "issued.csv")
    code, out = _run(home, "forecast", "--output", out_file, secret_key=new)
    assert code == 1 and "does not verify" in out  # the new key alone cannot read old artifacts
    keyring = {"secret_key": new, "previous_secret_keys": f'["{SECRET}"]'}
    assert _run(home, "forecast", "--output", out_file, **keyring)[0] == 0
    code, out = _run(home, "models", "resign", **keyring)
    assert code == 0 and "re-signed 2 versions" in out
    assert _run(home, "forecast", "--output", out_file, secret_key=new)[0] == 0
    champion = (home / "versions.txt").read_text().split()[0]
    assert "manifest re-signed" in _run(home, "models", "show", champion, secret_key=new)[1]
