"""A raw-socket HTTP/1.1 client for what httpx will not send: half heads, huge heads,
malformed lines, repeated headers, ``Expect: 100-continue`` without a body."""

from __future__ import annotations

import socket
import time
import weakref
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float  # from the call until the whole answer was read

    def json(self) -> dict:
        return orjson.loads(self.body)


def connect(url: str, *, timeout: float = 5.0) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


#: Bytes read past one answer (a pipelined next answer that came in the same read), kept
#: for the next ``read_response`` on that socket.
_unread: weakref.WeakKeyDictionary[socket.socket, bytes] = weakref.WeakKeyDictionary()


def read_response(sock: socket.socket, *, started: float | None = None) -> RawResponse:
    """One answer from ``sock`` (its head, then content-length bytes or up to EOF)."""
    started = time.perf_counter() if started is None else started
    data = _unread.pop(sock, b"")
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer's head: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    if len(body) > length:
        _unread[sock] = body[length:]
    return RawResponse(status, headers, body[:length], time.perf_counter() - started)


def exchange(url: str, data: bytes, *, timeout: float = 5.0) -> RawResponse:
    """Send ``data`` on a new connection and read one answer."""
    with connect(url, timeout=timeout) as sock:
        started = time.perf_counter()
        sock.sendall(data)
        return read_response(sock, started=started)


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the peer closed ``sock`` (answer bytes, if any, are drained first)."""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except (BlockingIOError, TimeoutError):
        return False
