"""uvicorn's httptools protocol with the limits it lacks, answering in mlkube's JSON shape.

Both leaf apps are served by uvicorn with httptools, its fastest parser (uvicorn's h11
protocol, which has a head-size knob, measured ~250 µs of CPU per kept-alive request
against httptools' ~65 µs here). That protocol, as shipped, lets a client (the numbers
are ``mlkube.http_limits``'):

- send an unbounded request head (60 MB of headers were buffered before the app, and so
  authentication, ever saw the request): here a head over ``max_head_bytes`` is 431;
- hold a connection forever by sending half a head, a byte at a time, or nothing (its
  keep-alive timer starts only after a first response): here a head must be complete
  ``head_timeout_s`` after its first byte, or after the connection opened, else 408
  (or a silent close when nothing at all was sent);
- open connections without bound: here one opened while ``max_connections`` are open is
  answered 503 as soon as its head is in, and closed;

and answers a request it cannot parse in plain text: here every refusal is the JSON
error body of ``mlkube.errors.error_body`` with ``connection: close``.

Only the connection's state machine changes, and only at head boundaries: a request
whose head arrives in one read (every real client's) costs no timer and no extra copy,
so the CPU per request stays close to uvicorn's own (``python -m bench.http_protocol``:
1-3 µs over the stock protocol's ~65 µs per kept-alive request, parse to answer; about
1 % of the gateway's ~250 µs per request, which wrk could not tell apart). The limit is
counted on the bytes read while a head is incomplete; a pipelined head that shares a
read with the previous request's body is counted from the next read, so it may pass the
limit by one read.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
from typing import Any, ClassVar, cast

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from mlkube.asgi import REQUESTS_IN_FLIGHT
from mlkube.errors import (
    MalformedRequestError,
    MlkubeError,
    RequestHeaderTooLargeError,
    RequestTimeoutError,
    TooManyConnectionsError,
    error_body,
)
from mlkube.http_limits import HttpLimits

log = logging.getLogger("mlkube.http")

#: uvicorn's ``http=`` for worker processes (``workers > 1``), which import the protocol
#: by name: that class reads its limits from the environment (``HttpLimits.to_env``).
WORKER_PROTOCOL = "mlkube.http_protocol:LimitedHttpToolsProtocol"

_JSON = b"content-type: application/json\r\n"


def http_protocol(limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class to pass as uvicorn's ``http=`` to enforce ``limits`` in this
    process."""
    return cast(type[LimitedHttpToolsProtocol],
                type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,),
                     {"limits": limits, "__module__": __name__}))


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """One client connection: uvicorn's, plus the head limit, head deadline, connection
    cap, TCP_NODELAY and JSON refusals. ``limits`` unset: read from the environment."""

    limits: ClassVar[HttpLimits | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = type(self).limits or _limits_from_env()
        self._max_head = limits.max_head_bytes
        self._head_timeout = limits.head_timeout_s
        self._max_connections = limits.max_connections
        # uvicorn's own cap answers in plain text, and counts admitted connections too.
        self.limit_concurrency = None
        self._reading_head = True  # no head in, or the last message is complete
        self._head_started = False  # a byte of the current head has been parsed
        self._head_bytes = 0
        self._heads = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._unreadable: MlkubeError | None = None  # a request refused once parsed

    # --- the connection ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        over_capacity = len(self.connections) >= self._max_connections
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:  # small answers are not held back by Nagle's algorithm
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass  # not TCP (a Unix socket): nothing to disable
        if over_capacity:
            # Answered once its head is in: a reply written before the request is read
            # would be lost to the reset that closing an unread socket sends.
            self.app = _refuse_connection
        # The first head's deadline runs from the connection's start: a client that
        # connects and sends nothing is closed at it too.
        self._head_timer = self.loop.call_later(self._head_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if not self._reading_head:
            self._feed(data)  # a body: the app reads it under its own limits
            return
        room = self._max_head - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            self._feed(data)
        else:
            # Feed only up to the limit: if the head does not end there, it is too large.
            heads = self._heads
            self._head_bytes = self._max_head
            self._feed(data[:room])
            if self.transport.is_closing():
                return
            if self._heads == heads:
                self._refuse(RequestHeaderTooLargeError(
                    f"The request line and headers are larger than "
                    f"{_size(self._max_head)}.",
                    hint="Send fewer or shorter headers (cookies, long tokens)."))
                return
            self.data_received(data[room:])
            return
        if (self._reading_head and self._head_started and self._head_timer is None
                and not self.transport.is_closing()):
            # Only a head split over reads gets a timer: whole heads cost nothing.
            self._head_timer = self.loop.call_later(self._head_timeout, self._head_timed_out)

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            if self._unreadable is not None:
                self._refuse(self._unreadable)
            elif self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                # Served as HTTP/1.1; the parser stopped at the end of the head, and what
                # follows (a pipelined request) is read as usual, not dropped.
                self._unsupported_upgrade_warning()
                rest = data[upgrade.args[0]:] if upgrade.args else b""
                if rest:
                    self._feed(rest)
        except httptools.HttpParserCallbackError as error:
            # uvicorn could not build the request's scope (a path it cannot decode).
            log.debug("Request refused after a parser callback failed: %r", error.__context__)
            self._refuse(MalformedRequestError(
                "The request line or headers could not be read.",
                hint="Send an HTTP/1.1 request with an ASCII, percent-encoded path."))
        except httptools.HttpParserError as error:
            if "PRI" in str(error):  # llhttp's words for the HTTP/2 connection preface
                self._refuse(MalformedRequestError(
                    "The request is HTTP/2; this server speaks HTTP/1.1 only.",
                    hint="Send HTTP/1.1 (curl --http1.1; httpx does by default)."))
                return
            self._refuse(MalformedRequestError(
                f"The request is not valid HTTP/1.1: {str(error).rstrip('.')}.",
                hint="Check the request line and header syntax; each header is "
                     "'Name: value' on its own line, Content-Length appears at most once."))

    def _unsupported_upgrade_warning(self) -> None:
        # uvicorn warns twice per request that asks for an upgrade (WebSocket, h2c),
        # which a client could repeat to flood the log; the request is served as plain
        # HTTP/1.1 all the same.
        log.debug("Ignored the Upgrade header of a request (served as HTTP/1.1).")

    def send_400_response(self, msg: str) -> None:
        self._refuse(MalformedRequestError(f"The request is not valid HTTP/1.1: {msg}",
                                           hint="Check the request line and headers."))

    # --- parser callbacks: where a head starts and ends ---------------------------------
    def on_message_begin(self) -> None:
        self._head_started = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        self._heads += 1
        self._cancel_head_timer()
        if (self.parser.should_upgrade() and not self._should_upgrade()
                and _announces_body(self.headers)):
            # httptools reads no body after a head that asks for an upgrade: the app
            # would get an empty body, and the body's bytes would be parsed as the next
            # request (a desync a proxy in front could be fooled by).
            self._unreadable = MalformedRequestError(
                "The request asks for a protocol upgrade and has a body; this server "
                "does not upgrade, and cannot read a body sent so.",
                hint="Send it without the Upgrade and 'Connection: upgrade' headers "
                     "(curl: --http1.1).")
            return
        # The server's set of request tasks, which uvicorn keeps up to date; the
        # scope is the one the request's app gets.
        self.scope["extensions"] = {REQUESTS_IN_FLIGHT: self.tasks}
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._unreadable is not None:
            return  # refused when the parser stops, right after this
        super().on_message_complete()
        self._reading_head = True
        self._head_started = False

    # --- refusals -------------------------------------------------------------------------
    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head is late while the previous answer is being written:
            # finish that answer, then close.
            self.cycle.keep_alive = False
            return
        if not self._head_started:
            self.transport.close()  # nothing was sent: there is nobody to answer
            return
        self._refuse(RequestTimeoutError(
            f"The request line and headers did not arrive within {self._head_timeout:g} s.",
            hint="Send the request line and headers at once, without pauses."))

    def _refuse(self, error: MlkubeError) -> None:
        """Answer ``error`` in the JSON shape and close: the connection's framing is lost."""
        self._cancel_head_timer()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info("Refused a request from %s with %d: %s", client, error.http_status,
                 error.message)
        body = error_body(error)
        content = [STATUS_LINE[error.http_status]]
        for name, value in self.server_state.default_headers:
            content += [name, b": ", value, b"\r\n"]
        content += [_JSON, b"content-length: ", str(len(body)).encode(), b"\r\n",
                    b"connection: close\r\n\r\n", body]
        self.transport.write(b"".join(content))
        self.transport.close()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None


async def _refuse_connection(scope: Any, receive: Any, send: Any) -> None:
    """The app of a connection opened past the cap: 503, then close."""
    error = TooManyConnectionsError(
        "The server already holds its maximum of open connections.",
        hint="Retry in a moment, reusing one connection for many requests.")
    body = error_body(error)
    await send({"type": "http.response.start", "status": error.http_status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"retry-after", b"1"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _announces_body(headers: list[tuple[bytes, bytes]]) -> bool:
    return any((name == b"content-length" and value.strip() != b"0")
               or name == b"transfer-encoding" for name, value in headers)


@functools.cache
def _limits_from_env() -> HttpLimits:
    return HttpLimits.from_env(os.environ)


def _size(count: int) -> str:
    return f"{count // 1024} KB" if count % 1024 == 0 else f"{count} bytes"
