"""Real HTTP servers for the gateway tests: uvicorn on 127.0.0.1 in a thread.

``ThreadedServer`` runs any ASGI app on a free port (as httpx's own tests do);
``RecordingUpstream`` is a tiny inference-server stand-in for the *upstream* side only:
it answers with its deployment name, records what reached it, and can be told to be
slow or to fail, so each gateway behaviour can be provoked on demand.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
import uvicorn


class ThreadedServer:
    """An ASGI app served by uvicorn on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, app: Any, *, lifespan: str = "off") -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                lifespan=lifespan, http="httptools", loop="asyncio",
                                access_log=False, timeout_graceful_shutdown=1)
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

    ``delay_s`` and ``status`` change every answer; the request header
    ``x-test-delay-ms`` delays one.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.delay_s = 0.0
        self.status = 200
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
        if scope["path"] == "/swagger.json":
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
