"""Posting one signed webhook: every network step bounded, no redirects followed, and every
failure returned as a reason (never raised), so one bad receiver cannot stop the others.

The host is resolved once, within a timeout, and the connection made to that address (TLS still
checks the certificate against the host name): socket timeouts bound connect and read, but not
a name lookup, and a second lookup inside the HTTP client would not be bounded.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-ThreatCast-Signature"
TIMESTAMP_HEADER = "X-ThreatCast-Timestamp"
# Each of DNS, connect and read gets at most this long, and a whole delivery at most
# DEADLINE_S: a receiver that trickles its answer a byte at a time is cut off there.
STEP_TIMEOUT_S = 5.0
DEADLINE_S = 15.0
_RESOLVER = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="webhook-dns")


def signature(timestamp: str, body: bytes, secret: str) -> str:
    """HMAC-SHA256 over `timestamp.body`: receivers refuse old timestamps, so a captured
    delivery cannot be replayed later."""
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def host_of(url: str) -> str:
    """The host (and port) of a URL, for logs and for readers who may not see the URL itself."""
    try:
        parts = urlsplit(url)
        return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "?"
    except ValueError:
        return "?"


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to an address resolved beforehand, verified against the URL's host name."""

    def __init__(self, address: str, port: int, server_name: str) -> None:
        super().__init__(
            address, port, timeout=STEP_TIMEOUT_S, context=ssl.create_default_context()
        )
        self._server_name = server_name

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._server_name)  # type: ignore[attr-defined]


def _address(host: str, port: int) -> str:
    """One address of `host`, looked up within the step timeout."""
    lookup = _RESOLVER.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        found = lookup.result(timeout=STEP_TIMEOUT_S)
    except concurrent.futures.TimeoutError:
        raise OSError(f"DNS lookup of {host} took over {STEP_TIMEOUT_S:g} s") from None
    return str(found[0][4][0])


def internal_address(address: str) -> bool:
    """Loopback, link-local (cloud metadata: 169.254.169.254), private or otherwise not a
    public address: a webhook there would let whoever sets rules probe the internal network."""
    ip = ipaddress.ip_address(address.split("%")[0])
    return not ip.is_global or ip.is_multicast


class _Deadline:
    """Shuts the connection's socket at the deadline, which wakes a read blocked on it."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float) -> None:
        self.connection, self.expired = connection, False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        self.expired = True
        sock = self.connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._timer.cancel()


def post(url: str, body: bytes, secret: str, allow_internal: bool = False) -> str | None:
    """None when the receiver took it (2xx), else why not, naming only the host. Internal
    addresses are refused unless `allow_internal`; the whole delivery takes at most
    DEADLINE_S."""
    try:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            return "not an http(s) URL"
        secure = parts.scheme == "https"
        port = parts.port or (443 if secure else 80)
        address = _address(parts.hostname, port)
        if not allow_internal and internal_address(address):
            return (
                f"{host_of(url)}: refused: {address} is a loopback, link-local or private "
                "address (THREATCAST_ALERT_ALLOW_INTERNAL_RECEIVERS allows it)"
            )
        connection: http.client.HTTPConnection = (
            _PinnedHTTPS(address, port, parts.hostname)
            if secure
            else http.client.HTTPConnection(address, port, timeout=STEP_TIMEOUT_S)
        )
        timestamp = str(int(time.time()))
        headers = {
            "Host": parts.netloc.rpartition("@")[2],
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(timestamp, body, secret),
            "User-Agent": "ThreatCast",
        }
        deadline = _Deadline(connection, DEADLINE_S)
        try:
            with deadline:
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                connection.request("POST", path, body=body, headers=headers)
                status = connection.getresponse().status
        except (OSError, http.client.HTTPException) as exc:
            if deadline.expired:
                return f"{host_of(url)}: no answer within the {DEADLINE_S:g} s deadline"
            raise exc
        finally:
            connection.close()
    except OSError as exc:  # refused, unreachable, timed out, DNS, TLS
        return f"{host_of(url)}: {type(exc).__name__}: {exc.strerror or exc}"
    except Exception as exc:  # InvalidURL, BadStatusLine, LineTooLong, ValueError, ...
        return f"{host_of(url)}: {type(exc).__name__}"
    if 200 <= status < 300:
        return None
    moved = " (redirects are not followed)" if 300 <= status < 400 else ""
    return f"HTTP {status}{moved}"
