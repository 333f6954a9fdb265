"""The ASGI plumbing the inference server and the gateway share, and nothing else.

Both leaf apps are raw ASGI callables (no web framework: each request's overhead is on
every score), so both need the same few pieces: the ASGI types, the lifespan protocol,
a body reader with a size limit that notices a caller who went away, the two ``send``
calls of a response, and request ids. They live here once so the two apps cannot drift;
the module imports nothing but ``errors``, so it stays as light as the server must be.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, MutableMapping
from random import getrandbits
from typing import Any

from mlkube.errors import MlkubeError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]

#: A hook run at lifespan startup or shutdown; it may be a coroutine function.
LifespanHook = Callable[[], Awaitable[None] | None]

#: The scope extension through which ``mlkube.http_protocol`` shows an app the requests
#: the server process has started and not finished (this one included). Only the protocol
#: sees them: a request read in the same loop turn as this one has its task but has not
#: run yet, so the app alone cannot tell it is there.
REQUESTS_IN_FLIGHT = "mlkube.requests_in_flight"


class ClientDisconnectedError(Exception):
    """The caller went away before sending its whole body: there is nobody to answer."""


async def serve_lifespan(receive: Receive, send: Send, *, startup: LifespanHook,
                         shutdown: LifespanHook) -> None:
    """Answer the ASGI lifespan protocol, running ``startup`` and ``shutdown`` at its
    two moments."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await _run(startup)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await _run(shutdown)
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_body(receive: Receive, *, limit: int,
                    too_large: Callable[[int], MlkubeError]) -> bytes:
    """The whole request body, or ``too_large(size read so far)`` raised once it passes
    ``limit`` bytes. Raises ``ClientDisconnectedError`` on ``http.disconnect``: an empty
    body must never be mistaken for the request the caller meant to send."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnectedError
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the common case: one message, no copy
        if len(body) > limit:
            raise too_large(len(body))
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnectedError
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(size)
        chunks.append(chunk)
    return b"".join(chunks)


async def send_response(send: Send, status: int, headers: RawHeaders, body: bytes) -> None:
    """One whole response: its start, then its body in one message."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def requests_in_flight(scope: Scope) -> int | None:
    """How many requests the server is serving, this one included; None when the app is
    served by something other than ``mlkube.http_protocol``."""
    requests = scope.get("extensions", {}).get(REQUESTS_IN_FLIGHT)
    return None if requests is None else len(requests)


def new_request_id() -> bytes:
    """A random RFC 4122 version-4 UUID, as bytes for a header.

    ``uuid.uuid4()`` and ``os.urandom`` make a syscall per call, which showed up as a
    sixth of a one-row request's CPU in the server's profiles; a request id needs
    uniqueness, not secrecy, so Python's seeded PRNG serves."""
    value = getrandbits(128) & ~(0xF000 << 64) | (0x4000 << 64)
    value = value & ~(0xC000 << 48) | (0x8000 << 48)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}".encode()


async def _run(hook: LifespanHook) -> None:
    result = hook()
    if inspect.isawaitable(result):
        await result
