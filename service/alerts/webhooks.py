"""Posting one signed webhook: every network step bounded, no redirects followed, and every
failure returned as a reason (never raised), so one bad receiver cannot stop the others."""

from __future__ import annotations

import concurrent.futures
import hashlib
import hmac
import socket
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-ThreatCast-Signature"
TIMESTAMP_HEADER = "X-ThreatCast-Timestamp"
# Each of DNS, connect and read gets at most this long.
STEP_TIMEOUT_S = 5.0
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


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None  # the 3xx is returned as an HTTPError: a POST never becomes a GET elsewhere


_OPENER = urllib.request.build_opener(_NoRedirects)


def _resolve(url: str) -> str | None:
    """Resolve the host within the step timeout (socket timeouts do not bound DNS)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return "not an http(s) URL"
    lookup = _RESOLVER.submit(socket.getaddrinfo, parts.hostname, parts.port or 443)
    try:
        lookup.result(timeout=STEP_TIMEOUT_S)
    except concurrent.futures.TimeoutError:
        return f"DNS lookup of {parts.hostname} took over {STEP_TIMEOUT_S:g} s"
    except OSError as exc:
        return f"DNS lookup of {parts.hostname} failed: {exc.strerror or exc}"
    return None


def post(url: str, body: bytes, secret: str) -> str | None:
    """None when the receiver took it (2xx), else why not, naming only the host."""
    try:
        problem = _resolve(url)
        if problem is not None:
            return problem
        timestamp = str(int(time.time()))
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: signature(timestamp, body, secret),
                "User-Agent": "ThreatCast",
            },
        )
        with _OPENER.open(request, timeout=STEP_TIMEOUT_S) as response:
            return None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        moved = " (redirects are not followed)" if 300 <= exc.code < 400 else ""
        return f"HTTP {exc.code}{moved}"
    except urllib.error.URLError as exc:
        return f"{host_of(url)}: {type(exc.reason).__name__}: {exc.reason}"
    except Exception as exc:  # InvalidURL, BadStatusLine, LineTooLong, ValueError, ...
        return f"{host_of(url)}: {type(exc).__name__}"
