"""A lean, pooled HTTP/1.1 client for talking to inference servers.

The gateway's added latency is on every scoring request, so this client does only what
the gateway needs: buffered request and response bodies, keep-alive connections pooled
per host, one timer per request for the timeout, and httptools (the parser uvicorn
uses) for responses. On this machine it adds well under half of httpx.AsyncClient's
per-request cost (see ``tests/gateway/test_upstream.py`` and BENCHMARKS.md).

Failures are reported so the gateway can answer the right status, and retry only what
provably never reached the model:
``UpstreamConnectError`` (the request did not reach the server's app: the connection was
refused, or reset before any answer byte; another instance may be tried),
``UpstreamBrokenError`` (the server may have taken the request, then failed to answer),
``UpstreamTimeoutError`` (no full answer before the deadline).

A pooled connection that fails before any answer byte is *stale* (its server closed it
while idle, or died): the request is sent again once, on a fresh connection to the same
instance, and that attempt decides the outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools


class UpstreamError(Exception):
    """Base of the failures of one upstream exchange (internal to the gateway)."""


class UpstreamConnectError(UpstreamError):
    """The request did not reach the server's app; another instance may be tried.

    The connection was refused, or was reset before the server read the request (a
    server that read it and then died closes with FIN, never RST), or a stale pooled
    connection was followed by a refused one.
    """


class UpstreamBrokenError(UpstreamError):
    """The connection broke, or the answer was not valid HTTP, after sending the request."""


class _StaleConnectionError(UpstreamBrokenError):
    """A reused keep-alive connection failed before any answer byte (internal)."""


class UpstreamTimeoutError(UpstreamError):
    """The full answer did not arrive before the deadline."""


@dataclass(frozen=True)
class UpstreamInstance:
    """One inference-server instance, parsed once per config load."""

    url: str
    host: str
    port: int
    prefix: bytes
    host_header: bytes

    @classmethod
    def from_url(cls, url: str) -> UpstreamInstance:
        parts = urlsplit(url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 80
        return cls(url=url, host=host, port=port, prefix=parts.path.rstrip("/").encode(),
                   host_header=parts.netloc.encode())


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.reused = False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[UpstreamResponse] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._got_bytes = False
        self._headers_done = False
        self._sized = False
        self._head = False

    # --- asyncio.Protocol ------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream connection's transport (uvloop's is not an asyncio.Transport subclass).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(UpstreamBrokenError(f"invalid HTTP from the inference server: {error}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and not self._sized:
            # A body delimited by the end of the connection is complete now.
            self.on_message_complete()
            return
        if self._got_bytes:
            self._fail(UpstreamBrokenError(
                "the inference server closed the connection in the middle of its answer"))
        elif self.reused:
            self._fail(_StaleConnectionError("the inference server closed the kept-alive "
                                             "connection before answering"))
        elif exc is not None:
            # Reset (or a failed write) on a fresh connection: the server never read the
            # whole request, so its app never saw it.
            self._fail(UpstreamConnectError(
                f"the inference server reset the connection before reading the request "
                f"({exc.__class__.__name__})"))
        else:
            self._fail(UpstreamBrokenError(
                "the inference server closed the connection before answering"))

    # --- httptools callbacks ---------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in (b"content-length", b"transfer-encoding"):
            self._sized = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        if self._head and self._parser.get_status_code() >= 200:
            # An answer to HEAD has no body whatever its content-length says, and the
            # parser cannot be told so: the answer is complete now, and the connection,
            # whose parser would wait for that body, is not reused.
            self._sized = True
            self.on_message_complete()
            self.close()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if 100 <= self._parser.get_status_code() < 200:
            # An interim answer (100 Continue, 103 Early Hints): the real one follows.
            self._headers, self._body = [], []
            self._headers_done = self._sized = False
            return
        if not self._parser.should_keep_alive():
            self.close()
        waiter.set_result(UpstreamResponse(
            status=self._parser.get_status_code(),
            headers=self._headers,
            body=b"".join(self._body),
        ))

    # --- the exchange ----------------------------------------------------------------
    async def exchange(self, request: bytes, *, deadline: float,
                       head: bool = False) -> UpstreamResponse:
        self._got_bytes = self._headers_done = self._sized = False
        self._head = head
        if self.closed:
            if self.reused:
                raise _StaleConnectionError("the inference server closed the idle connection")
            # A fresh connection the server reset before a byte of the request was
            # written: the request never reached it, so another instance may take it.
            raise UpstreamConnectError(
                "the inference server closed the connection before the request was sent")
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        self._headers, self._body = [], []
        assert self.transport is not None
        self.transport.write(request)
        timer = loop.call_at(deadline, self._fail, UpstreamTimeoutError("deadline passed"))
        try:
            return await waiter
        except BaseException:
            # A half-finished exchange leaves the connection unusable.
            self.close()
            raise
        finally:
            timer.cancel()
            self._waiter = None

    def _fail(self, error: UpstreamError) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class UpstreamClient:
    """Keep-alive connections to every instance, reused across requests."""

    def __init__(self, *, max_idle_per_instance: int = 64, idle_timeout_s: float = 3.0) -> None:
        # Idle connections are dropped before uvicorn's 5 s keep-alive closes them, so a
        # reused connection is almost never one the server is closing.
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._max_idle = max_idle_per_instance
        self._idle_timeout = idle_timeout_s

    async def request(
        self, instance: UpstreamInstance, method: str, target: bytes,
        headers: Sequence[tuple[bytes, bytes]], body: bytes, *, timeout_s: float,
        fresh: bool = False,
    ) -> UpstreamResponse:
        """Send one request and return the whole answer, or raise an ``UpstreamError``.

        ``fresh`` skips the pool: a retry on a URL already tried in this request (a
        Service fronting several pods) then likely reaches another server.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        request = _serialize(instance, method, target, headers, body)
        connection = None if fresh else self._idle_connection(instance)
        if connection is not None:
            try:
                return await self._exchange(instance, connection, request, deadline,
                                            head=method == "HEAD")
            except _StaleConnectionError:
                # Closed while idle (or its server died): resend once on a fresh
                # connection, whose outcome is classified on its own. A refusal there
                # means the instance is down, and another one may be tried.
                pass
        try:
            connection = await self._connect(instance, deadline)
        except UpstreamConnectError:
            self._drop_idle(instance)  # every pooled connection to it is dead too
            raise
        return await self._exchange(instance, connection, request, deadline,
                                    head=method == "HEAD")

    async def _exchange(self, instance: UpstreamInstance, connection: _Connection, request: bytes,
                        deadline: float, *, head: bool = False) -> UpstreamResponse:
        response = await connection.exchange(request, deadline=deadline, head=head)
        if not connection.closed:
            idle = self._idle.setdefault((instance.host, instance.port), [])
            if len(idle) < self._max_idle:
                connection.idle_since = time.monotonic()
                connection.reused = True
                idle.append(connection)
            else:
                connection.close()
        return response

    def _idle_connection(self, instance: UpstreamInstance) -> _Connection | None:
        idle = self._idle.get((instance.host, instance.port))
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self._idle_timeout:
                return connection
            connection.close()
        return None

    def _drop_idle(self, instance: UpstreamInstance) -> None:
        for connection in self._idle.pop((instance.host, instance.port), ()):
            connection.close()

    async def _connect(self, instance: UpstreamInstance, deadline: float) -> _Connection:
        loop = asyncio.get_running_loop()
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise UpstreamTimeoutError("deadline passed before connecting")
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(_Connection, instance.host, instance.port),
                timeout=remaining,
            )
        except asyncio.TimeoutError:
            raise UpstreamTimeoutError(f"connecting to {instance.url} timed out") from None
        except OSError as error:
            raise UpstreamConnectError(
                f"cannot connect to {instance.url}: {error.strerror or error}"
            ) from None
        return connection

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


def _serialize(instance: UpstreamInstance, method: str, target: bytes,
               headers: Sequence[tuple[bytes, bytes]], body: bytes) -> bytes:
    lines = [method.encode(), b" ", instance.prefix, target, b" HTTP/1.1\r\nhost: ",
             instance.host_header, b"\r\n"]
    for name, value in headers:
        lines += [name, b": ", value, b"\r\n"]
    if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        lines += [b"content-length: ", str(len(body)).encode(), b"\r\n"]
    lines.append(b"\r\n")
    lines.append(body)
    return b"".join(lines)
