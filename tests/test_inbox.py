"""The inbox is a drop folder, not a way in: no link is followed, nothing planted redirects a
write, a damaged file is set aside and the next one read, and a file is taken only once whole."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import threading
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from events.tables import event_counts, event_rows
from service.app import create_app
from service.keys import create_key
from store.db import make_engine
from tests.conftest import DATA, SECRET, SMALL_TRAINING, run_cli, served_settings, settled

WORKBOOK = DATA / "ucdp_candidate_v26_0_2_pakistan.xlsx"
ACLED_WEEKLY = DATA / "acled_aggregated_pakistan_sample.csv"
OCTOBER_2023 = DATA / "ucdp_candidate_v23_0_10_pakistan.csv"


def _home(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    return home, inbox


def _store(home: Path) -> Engine:
    return make_engine(f"sqlite:///{home / 'threatcast.db'}")


def _counts(home: Path) -> tuple[int, int]:
    engine = _store(home)
    with engine.connect() as conn:
        cells = conn.execute(select(func.count()).select_from(event_counts)).scalar_one()
        events = conn.execute(
            select(func.count()).select_from(event_rows).where(event_rows.c.withdrawn_at.is_(None))
        ).scalar_one()
    return cells, events


def _drop(source: Path, inbox: Path, name: str | None = None) -> Path:
    target = inbox / (name or source.name)
    shutil.copy(source, target)
    settled(target)
    return target


def _rewritten(member: str, change: object) -> bytes:
    """The real February 2026 workbook with one member changed by `change(bytes) -> bytes`."""
    out = io.BytesIO()
    with zipfile.ZipFile(WORKBOOK) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in source.infolist():
            data = source.read(info)
            z.writestr(info.filename, change(data) if info.filename == member else data)  # type: ignore[operator]
    return out.getvalue()


def _sheet() -> str:
    with zipfile.ZipFile(WORKBOOK) as z:
        return next(n for n in z.namelist() if n.startswith("xl/worksheets/sheet"))


def _unknown_compression() -> bytes:
    """The workbook with its sheet stored, then that member's method set to 99 (unknown)."""
    out = io.BytesIO()
    sheet = _sheet()
    with zipfile.ZipFile(WORKBOOK) as source, zipfile.ZipFile(out, "w") as z:
        for info in source.infolist():
            kind = zipfile.ZIP_STORED if info.filename == sheet else zipfile.ZIP_DEFLATED
            z.writestr(info.filename, source.read(info), compress_type=kind)
    data = bytearray(out.getvalue())
    name = sheet.encode()
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = 0
        while (at := data.find(signature, at)) != -1:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at : name_at + len(name)] == name:
                struct.pack_into("<H", data, at + offset, 99)
            at += 4
    return bytes(data)


def _flipped() -> bytes:
    data = bytearray(WORKBOOK.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0xFF
    return bytes(data)


POISONED = {
    "cut_short.xlsx": lambda: _rewritten(_sheet(), lambda b: b[: len(b) // 2]),
    "flipped_byte.xlsx": _flipped,
    "unknown_compression.xlsx": _unknown_compression,
}


def test_poisoned_workbooks_are_rejected_and_the_next_file_is_read(tmp_path: Path) -> None:
    home, inbox = _home(tmp_path)
    for name, make in POISONED.items():
        (inbox / f"a_{name}").write_bytes(make())
        settled(inbox / f"a_{name}")
    _drop(ACLED_WEEKLY, inbox, "z_acled.csv")

    code, out = run_cli(home, "refresh")

    assert code == 1, out
    assert "Traceback" not in out
    for name in POISONED:
        assert f"rejected a_{name}" in out, out
        assert (inbox / "rejected" / f"a_{name}").exists()
        reason = inbox / "rejected" / f"a_{name}.reason.txt"
        assert (
            "not a readable Excel workbook" in reason.read_text()
            or "cannot be read" in reason.read_text()
        )
        assert reason.stat().st_mode & 0o777 == 0o600
    assert "ingested z_acled.csv" in out and "queued job" in out
    assert _counts(home)[0] == len(ACLED_WEEKLY.read_text().splitlines()) - 1
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == [".refresh.lock"]


def test_a_worker_outlives_a_poisoned_workbook(tmp_path: Path) -> None:
    home, inbox = _home(tmp_path)
    (inbox / "poison.xlsx").write_bytes(POISONED["cut_short.xlsx"]())
    settled(inbox / "poison.xlsx")
    for _ in range(2):  # and again after a restart
        code, out = run_cli(home, "worker", "--once", "--refresh-every", "1h")
        assert code == 0, out
    assert (inbox / "rejected" / "poison.xlsx").exists()


def test_a_lock_link_truncates_nothing_and_refresh_says_why(tmp_path: Path) -> None:
    home, inbox = _home(tmp_path)
    assert run_cli(home, "ingest", str(ACLED_WEEKLY))[0] == 0
    database = home / "threatcast.db"
    size = database.stat().st_size
    (inbox / ".refresh.lock").symlink_to(database)

    code, out = run_cli(home, "refresh")

    assert code == 1 and "is a symbolic link" in out
    assert database.stat().st_size == size
    assert _counts(home)[0] > 0


def test_a_fifo_lock_or_fifo_file_does_not_hang_refresh(tmp_path: Path) -> None:
    home, inbox = _home(tmp_path)
    os.mkfifo(inbox / "pipe.csv")
    done = threading.Event()
    result: list[tuple[int, str]] = []

    def refresh() -> None:
        result.append(run_cli(home, "refresh"))
        done.set()

    threading.Thread(target=refresh, daemon=True).start()
    assert done.wait(30), "refresh hung on a FIFO in the inbox"
    assert "rejected pipe.csv" in result[0][1] and "not a regular file" in result[0][1]

    (inbox / ".refresh.lock").unlink()
    os.mkfifo(inbox / ".refresh.lock")
    done.clear()
    threading.Thread(target=refresh, daemon=True).start()
    assert done.wait(30), "refresh hung on a FIFO lock"
    assert result[1][0] == 1 and "not a regular file" in result[1][1]


@pytest.mark.parametrize("target", ["secret_key", "/proc/self/environ"])
def test_a_link_to_a_secret_is_never_read(tmp_path: Path, target: str) -> None:
    home, inbox = _home(tmp_path)
    secret = home / "secret_key"
    secret.write_text(SECRET)
    pointed = secret if target == "secret_key" else Path(target)
    (inbox / "leak.csv").symlink_to(pointed)

    code, out = run_cli(home, "refresh")

    assert code == 1 and "rejected leak.csv" in out and "symbolic link" in out
    assert SECRET not in out and "THREATCAST_HOME=" not in out
    reason = (inbox / "rejected" / "leak.csv.reason.txt").read_text()
    assert SECRET not in reason and "THREATCAST_HOME=" not in reason
    assert (inbox / "rejected" / "leak.csv").is_symlink()
    assert secret.read_text() == SECRET


def test_a_planted_reason_link_is_never_written_through(tmp_path: Path) -> None:
    home, inbox = _home(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (inbox / "rejected").mkdir()
    (inbox / "rejected" / "bad.csv.reason.txt").symlink_to(victim)
    (inbox / "bad.csv").write_text("not,an,event,file\n1,2,3,4\n")
    settled(inbox / "bad.csv")

    code, out = run_cli(home, "refresh")

    assert code == 1 and "rejected bad.csv" in out
    assert victim.read_text() == "keep me"
    reasons = [p for p in (inbox / "rejected").glob("*bad.csv.reason.txt") if not p.is_symlink()]
    assert len(reasons) == 1 and "unknown column layout" in reasons[0].read_text()


def test_a_planted_folder_link_stops_refresh_without_writing_elsewhere(tmp_path: Path) -> None:
    home, inbox = _home(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (inbox / "rejected").symlink_to(elsewhere)
    (inbox / "bad.csv").write_text("not,an,event,file\n1,2,3,4\n")
    settled(inbox / "bad.csv")
    code, out = run_cli(home, "refresh")
    assert code == 1 and "is not a directory" in out
    assert list(elsewhere.iterdir()) == []


def test_a_file_still_being_written_waits_and_is_taken_once_complete(tmp_path: Path) -> None:
    home, inbox = _home(tmp_path)
    assert run_cli(home, "ingest", str(ACLED_WEEKLY))[0] == 0
    before = _counts(home)
    lines = ACLED_WEEKLY.read_text().splitlines(keepends=True)
    growing = inbox / "acled_weekly.csv"
    growing.write_text("".join(lines[: len(lines) // 2]))  # a copy half way through

    code, out = run_cli(home, "refresh")
    assert code == 0 and "waiting for acled_weekly.csv" in out
    assert growing.exists() and _counts(home) == before

    with growing.open("a") as handle:  # the copy ends
        handle.write("".join(lines[len(lines) // 2 :]))
    settled(growing)
    code, out = run_cli(home, "refresh")
    assert "ingested acled_weekly.csv" in out and "0 gone" in out, out
    assert _counts(home) == before


def test_a_file_renamed_from_part_is_taken_at_once(tmp_path: Path) -> None:
    home, inbox = _home(tmp_path)
    part = inbox / "october.csv.part"
    part.write_bytes(OCTOBER_2023.read_bytes())
    past = os.stat(part).st_mtime - 5
    os.utime(part, (past, past))  # written a moment ago; the rename is what says it is whole
    part.rename(inbox / "october.csv")
    _, out = run_cli(home, "refresh")
    assert "ingested october.csv" in out, out


def test_a_file_that_would_remove_much_is_held_with_its_reason(tmp_path: Path) -> None:
    home, inbox = _home(tmp_path)
    assert run_cli(home, "ingest", str(ACLED_WEEKLY))[0] == 0
    before = _counts(home)
    lines = ACLED_WEEKLY.read_text().splitlines(keepends=True)
    without_punjab = [
        line for line in lines if not (",Punjab," in line and line.startswith("2015"))
    ]
    (inbox / "acled_no_punjab_2015.csv").write_text("".join(without_punjab))
    settled(inbox / "acled_no_punjab_2015.csv")

    code, out = run_cli(home, "refresh")

    assert code == 1 and "held acled_no_punjab_2015.csv" in out and "--replace" in out, out
    assert _counts(home) == before
    reason = (inbox / "held" / "acled_no_punjab_2015.csv.reason.txt").read_text()
    assert "would remove" in reason
    code, out = run_cli(
        home, "ingest", str(inbox / "held" / "acled_no_punjab_2015.csv"), "--replace"
    )
    assert code == 0 and _counts(home)[0] < before[0]


def test_an_upload_of_a_poisoned_workbook_is_a_400_and_is_removed(served_home: Path) -> None:
    with TestClient(create_app(served_settings(served_home))) as client:
        engine = client.app.state.engine  # type: ignore[attr-defined]
        admin = {"Authorization": f"Bearer {create_key(engine, 'ops', 'admin')[1]}"}
        for name, make in POISONED.items():
            response = client.post(
                "/v1/training-jobs",
                headers=admin,
                files={"events": (name, make(), "application/octet-stream")},
            )
            assert response.status_code == 400, (name, response.text)
            assert "Traceback" not in response.text
        assert list((served_home / "uploads").iterdir()) == []


def test_a_bad_date_cell_is_named_by_its_reference(tmp_path: Path) -> None:
    def bad_date(sheet: bytes) -> bytes:
        text = sheet.decode()
        at = text.index("<c ", text.index('<row r="3"'))
        end = text.index("</c>", at) + 4
        cell = text[at:end]
        ref = cell.split('r="')[1].split('"')[0]
        return (text[:at] + f'<c r="{ref}" t="d"><v>2026-13-45</v></c>' + text[end:]).encode()

    path = tmp_path / "bad_date.xlsx"
    path.write_bytes(_rewritten(_sheet(), bad_date))
    home = tmp_path / "home"
    code, out = run_cli(home, "ingest", str(path))
    assert code == 1 and "cell A3 cannot be read" in out, out
    assert "month must be in 1..12" in out


def test_refresh_config_in_json_is_still_accepted(tmp_path: Path) -> None:
    """The inbox folders are private; an earlier inbox made by hand still works."""
    home, inbox = _home(tmp_path)
    inbox.chmod(0o755)
    config = tmp_path / "small.json"
    config.write_text(json.dumps(SMALL_TRAINING))
    _drop(OCTOBER_2023, inbox)
    code, out = run_cli(home, "refresh", "--config", str(config))
    assert code == 0 and "ingested" in out, out
    assert (inbox / "done").stat().st_mode & 0o777 == 0o700
