"""A real HTTP/1.1 client that overloads a server and tells whether it served fairly.

N keep-alive connections each keep one request in flight for a while (as wrk does).
For every answer it records how many answers *other* requests got between this
request's sending and its answer. A server that serves in arrival order answers every
other connection about once meanwhile (N - 1); a request that is passed over sees
many more. Unlike a latency percentile, this count does not move when other work on the
machine slows the server or the client down, so tests can assert on it.

Used by the overload tests (``tests/server``, ``tests/gateway``) and by
``bench/fairness.py``. Traffic goes only to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class OverloadResult:
    """What the clients saw: answers, their statuses, latencies and how fair it was."""

    connections: int
    seconds: float
    #: Per answer, in the order answers arrived: (status, latency s, answers to others
    #: while it waited).
    answers: list[tuple[int, float, int]]

    @property
    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for status, _, _ in self.answers:
            counts[status] = counts.get(status, 0) + 1
        return counts

    @property
    def rate(self) -> float:
        return len(self.answers) / self.seconds if self.seconds else 0.0

    def passed_over(self, quantile: float) -> float:
        """Answers to other requests while one waited, at ``quantile`` (1.0: the most)."""
        return _quantile([others for _, _, others in self.answers], quantile)

    def latency_ms(self, quantile: float) -> float:
        return _quantile([seconds for _, seconds, _ in self.answers], quantile) * 1000

    def summary(self) -> str:
        return (f"{len(self.answers)} answers from {self.connections} connections "
                f"({self.rate:,.0f}/s), statuses {self.statuses}; latency p50 "
                f"{self.latency_ms(0.5):.1f} ms p99 {self.latency_ms(0.99):.1f} ms; answers "
                f"to others while one waited: p50 {self.passed_over(0.5):.0f}, p99 "
                f"{self.passed_over(0.99):.0f}, most {self.passed_over(1.0):.0f}")


def overload(url: str, *, body: bytes, connections: int = 64, seconds: float = 3.0,
             headers: Mapping[str, str] | None = None, warmup_s: float = 0.5,
             timeout_s: float = 60.0) -> OverloadResult:
    """POST ``body`` to ``url`` (``http://127.0.0.1:PORT/path``) over ``connections``
    kept-alive connections, each sending its next request when the last is answered,
    for ``seconds`` after ``warmup_s`` (answers during warm-up are not counted)."""
    parts = urlsplit(url)
    if parts.hostname != "127.0.0.1" or parts.port is None:
        raise ValueError(f"overload sends traffic only to 127.0.0.1:<port>, not {url}")
    head = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: 127.0.0.1:{parts.port}",
            "Content-Type: application/json", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    return asyncio.run(_run(parts.port, request, connections=connections, seconds=seconds,
                            warmup_s=warmup_s, timeout_s=timeout_s))


class _Tally:
    def __init__(self) -> None:
        self.answered = 0  # answers so far, to any connection
        self.record_from = 0.0
        self.stop_at = 0.0
        self.answers: list[tuple[int, float, int]] = []


class _Connection(asyncio.Protocol):
    """One keep-alive connection with one request in flight at a time."""

    def __init__(self, request: bytes, tally: _Tally, finished: asyncio.Future[None]) -> None:
        self._request = request
        self._tally = tally
        self._finished = finished
        self._buffer = bytearray()
        self._sent_at = 0.0
        self._answered_before = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._send()

    def _send(self) -> None:
        self._sent_at = time.perf_counter()
        self._answered_before = self._tally.answered
        self._transport.write(self._request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        status = _complete_response(self._buffer)
        if status is None:
            return
        now = time.perf_counter()
        tally = self._tally
        if self._sent_at >= tally.record_from:
            tally.answers.append((status, now - self._sent_at,
                                  tally.answered - self._answered_before))
        tally.answered += 1
        if now < tally.stop_at:
            self._send()
        else:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._finished.done():
            self._finished.set_result(None)


def _complete_response(buffer: bytearray) -> int | None:
    """The status of the whole response at the start of ``buffer`` (removed from it), or
    None while it is incomplete. Knows Content-Length and chunked bodies."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    status = int(head[9:12])
    start = head.find(b"\r\ncontent-length:")
    if start >= 0:
        length = int(head[start + 17:].split(b"\r\n", 1)[0])
        total = end + 4 + length
    else:  # chunked: the answer ends with the last, empty chunk
        last = buffer.find(b"\r\n0\r\n\r\n", end)
        if last < 0:
            return None
        total = last + 7
    if len(buffer) < total:
        return None
    del buffer[:total]
    return status


async def _run(port: int, request: bytes, *, connections: int, seconds: float,
               warmup_s: float, timeout_s: float) -> OverloadResult:
    loop = asyncio.get_running_loop()
    tally = _Tally()
    started = time.perf_counter()
    tally.record_from = started + warmup_s
    tally.stop_at = tally.record_from + seconds
    finished = [loop.create_future() for _ in range(connections)]
    for done in finished:
        await loop.create_connection(lambda done=done: _Connection(request, tally, done),
                                     "127.0.0.1", port)
    await asyncio.wait_for(asyncio.gather(*finished), timeout=seconds + warmup_s + timeout_s)
    measured = time.perf_counter() - tally.record_from
    return OverloadResult(connections=connections, seconds=measured, answers=tally.answers)


def _quantile(values: list[float] | list[int], quantile: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    if quantile >= 1.0:
        return float(ordered[-1])
    return float(statistics.quantiles(ordered, n=1000, method="inclusive")[
        max(0, min(998, round(quantile * 1000) - 1))])
