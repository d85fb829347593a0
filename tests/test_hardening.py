"""What an outside review found, against a live server on loopback: anonymous bodies, the event
loop under a held write lock, and other bounded costs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.keys import create_key
from store.db import make_engine, write_transaction
from tests.conftest import SECRET, free_port


@dataclass(frozen=True)
class LiveServer:
    home: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        """Resident memory of the server process and its children."""
        total = 0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(
                next(ln for ln in status.splitlines() if ln.startswith("VmRSS")).split()[1]
            )
        return total


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().split(") ")[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def live(sqlite_served_home: Path) -> Iterator[LiveServer]:
    port = free_port()
    env = {
        **os.environ,
        "THREATCAST_HOME": str(sqlite_served_home),
        "THREATCAST_DATABASE_URL": "",
        "THREATCAST_SECRET_KEY": SECRET,
        "THREATCAST_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = LiveServer(sqlite_served_home, port, process)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=1):
                break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
    yield server
    process.terminate()
    process.wait(timeout=30)


def _raw(port: int, head: str, body: bytes = b"", read_timeout: float = 5.0) -> tuple[int, float]:
    """Send a request by hand; the status and how long the answer took."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        started = time.monotonic()
        sock.sendall(head.encode() + b"\r\n" + body)
        reply = sock.recv(4096)
        elapsed = time.monotonic() - started
    return int(reply.split(b" ", 2)[1]), elapsed


def _admin_token(home: Path) -> str:
    engine = make_engine(f"sqlite:///{home / 'threatcast.db'}")
    token = create_key(engine, f"admin-{time.monotonic_ns()}", "admin")[1]
    engine.dispose()
    return token


def test_an_anonymous_gigabyte_body_is_refused_at_once(live: LiveServer) -> None:
    before = live.rss_kib()
    head = (
        "POST /v1/alert-rules HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000000000\r\n"
    )
    status, elapsed = _raw(live.port, head, b"{" + b" " * 65536)
    assert status == 413 and elapsed < 1.0
    # Without a Content-Length, streamed: refused for want of a key before the body is read.
    chunked = "POST /v1/training-jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    status, elapsed = _raw(live.port, chunked, b"10000\r\n" + b"x" * 65536 + b"\r\n")
    assert status == 401 and elapsed < 1.0
    assert live.rss_kib() - before < 50 * 1024
    assert not (live.home / "uploads").exists()


def test_an_admin_body_over_the_limit_is_cut_off_while_streaming(live: LiveServer) -> None:
    token = _admin_token(live.home)
    head = (
        f"POST /v1/alert-rules HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    )
    body = b"".join(b"4000\r\n" + b" " * 0x4000 + b"\r\n" for _ in range(8))  # 128 KiB
    status, _ = _raw(live.port, head, body)
    assert status == 413


def test_the_event_loop_never_waits_for_the_write_lock(live: LiveServer) -> None:
    engine = make_engine(f"sqlite:///{live.home / 'threatcast.db'}")
    reader = create_key(engine, "reader-under-lock", "reader")[1]
    held, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with write_transaction(engine):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert held.wait(10)
    try:
        timings = {}
        for name, headers in (("health", {}), ("keyed", {"Authorization": f"Bearer {reader}"})):
            path = "/healthz" if name == "health" else "/v1/forecasts"
            request = urllib.request.Request(f"{live.url}{path}", headers=headers)
            started = time.monotonic()
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
                json.load(response)
            timings[name] = time.monotonic() - started
        assert timings["health"] < 0.5 and timings["keyed"] < 1.0, timings
    finally:
        release.set()
        holder.join()
        engine.dispose()
