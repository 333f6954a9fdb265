"""Real HTTP servers for the gateway tests: uvicorn on 127.0.0.1 in a thread.

``ThreadedServer`` runs any ASGI app on a free port (as httpx's own tests do);
``RecordingUpstream`` is a tiny inference-server stand-in for the *upstream* side only:
it answers with its deployment name, records what reached it, and can be told to be
slow or to fail, so each gateway behaviour can be provoked on demand; ``SocketUpstream``
produces the connection-level failures no HTTP server produces on request.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
import uvicorn


class ThreadedServer:
    """An ASGI app served by uvicorn on 127.0.0.1:<free port> in a background thread;
    ``options`` are uvicorn's (the gateway's are those `mlkube gateway run` uses)."""

    def __init__(self, app: Any, *, lifespan: str = "off", **options: Any) -> None:
        settings: dict[str, Any] = {"lifespan": lifespan, "http": "httptools",
                                    "access_log": False, **options}
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                loop="asyncio", **settings, timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.port = 0

    def start(self) -> ThreadedServer:
        self.thread.start()
        wait_until(lambda: self.server.started, what="the server to start", timeout=10)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class RecordingUpstream:
    """Answers ``{"deployment": name, "path", "query", "body"}``; records each request.

    ``delay_s``, ``status`` and ``body`` (bytes instead of the JSON above) change every
    answer; the request header ``x-test-delay-ms`` delays one.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.delay_s = 0.0
        self.status = 200
        self.body: bytes | None = None
        self.requests: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append({"method": scope["method"], "path": scope["path"],
                              "query": scope["query_string"].decode(), "headers": headers,
                              "body": body})
        delay = self.delay_s + int(headers.get("x-test-delay-ms", "0")) / 1000
        if delay:
            await asyncio.sleep(delay)
        if self.body is not None:
            payload = self.body
        elif scope["path"] == "/swagger.json":
            payload = orjson.dumps({"swagger": "2.0", "info": {"title": self.name}})
        else:
            payload = orjson.dumps({"deployment": self.name, "path": scope["path"],
                                    "query": scope["query_string"].decode(),
                                    "body": body.decode("latin-1")})
        await send({"type": "http.response.start", "status": self.status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"x-request-id", b"upstream-would-overwrite"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    def mirrored(self) -> int:
        return sum(1 for r in self.requests if r["headers"].get("x-mlkube-mirror") == "true")


def wait_until(condition: Callable[[], Any], *, what: str, timeout: float = 5.0,
               interval: float = 0.02) -> Any:
    """Poll ``condition`` until it is truthy (returned) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class SocketUpstream:
    """A bare TCP server on 127.0.0.1 whose ``handle(connection)`` misbehaves on purpose.

    Some failures (a reset before reading, a close after reading the body) are exactly
    what no HTTP server does when asked, so they are produced on a raw socket.
    """

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self._handle = handle
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.connections = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            connection.settimeout(5)
            self._handle(connection)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._listener.close()


def read_request(connection: socket.socket) -> bytes:
    """Read one whole HTTP request (head and content-length body) from ``connection``."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        body += connection.recv(65536)
    return head + b"\r\n\r\n" + body


def close_after_reading(connection: socket.socket) -> None:
    """Take the whole request, then hang up without a byte: it may have been processed."""
    read_request(connection)
    connection.close()


def reset_before_reading(connection: socket.socket) -> None:
    """Reset the connection (RST, as a dying process's kernel does) without reading."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()
