"""Where a request's time goes inside the server at overload, stage by stage.

    taskset -c 0 .venv/bin/python bench/stage_times.py MODEL_ROOT PORT &
    taskset -c 1 wrk -t1 -c64 -d10s -s bench/post.lua http://127.0.0.1:PORT/score
    kill -INT %1     # prints the breakdown and exits

Serves MODEL_ROOT no-code (one worker, no batching) with mlkube's own app and protocol,
wrapped to timestamp every scoring request when its first bytes are read, when the app
starts on it, when it is queued for the scoring thread, when predict starts and ends,
and when its answer is written. On exit it prints the percentiles of each stage, the
longest gaps in which no request was read, garbage collections (wall and CPU), and
whether answers left in the order requests were read. A diagnostic for
``bench/fairness.py``'s figures: the wrapping costs a few µs per request. Batching is not
covered (a batch's predict belongs to no single request).
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from mlkube.http_limits import HttpLimits
from mlkube.http_protocol import http_protocol
from mlkube.server.runner import build_app
from mlkube.server.settings import ServerSettings

STAGES = ("read -> app", "app -> queued", "queued -> predict", "predict",
          "predict -> written", "read -> written")

_request: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "request", default=None)
_done: list[list[float]] = []
_collections: list[tuple[int, float, float]] = []  # generation, wall s, CPU s


def _watch_collections() -> None:
    started = [0.0, 0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter(), time.thread_time()]
        else:
            _collections.append((info["generation"], time.perf_counter() - started[0],
                                 time.thread_time() - started[1]))

    gc.callbacks.append(callback)


def _instrument(app: Any) -> Callable[..., Any]:
    """The app, timestamping each request; its scoring pool's ``run`` too."""
    threads = app.threads
    run = threads.run

    def timed_run(function: Callable[[Any], Any], argument: Any) -> Any:
        stamps = _request.get()
        if stamps is None:
            return run(function, argument)
        stamps.append(time.perf_counter())

        def timed(value: Any) -> Any:
            stamps.append(time.perf_counter())
            try:
                return function(value)
            finally:
                stamps.append(time.perf_counter())

        return run(timed, argument)

    threads.run = timed_run

    async def timed_app(scope: Any, receive: Any, send: Any) -> None:
        stamps = _request.get() if scope["type"] == "http" else None
        if stamps is None or scope["path"] != "/score":
            await app(scope, receive, send)
            return
        stamps.append(time.perf_counter())

        async def timed_send(message: Any) -> None:
            if message["type"] == "http.response.body":
                stamps.append(time.perf_counter())
            await send(message)

        await app(scope, receive, timed_send)
        _done.append(stamps)

    return timed_app


def _protocol(limits: HttpLimits) -> type:
    base: Any = http_protocol(limits)

    class TimedProtocol(base):  # type: ignore[misc, valid-type]
        def data_received(self, data: bytes) -> None:
            if self._reading_head and not self._head_started:
                # The task uvicorn creates for this request copies this context.
                _request.set([time.perf_counter()])
            super().data_received(data)

    return TimedProtocol


def _cut(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def report() -> None:
    whole = [s for s in _done if len(s) == 6]
    if len(whole) < 100:
        print(f"only {len(whole)} scoring requests seen; was the load running?")
        return
    print(f"{len(whole)} scoring requests (ms):")
    for index, name in enumerate(STAGES):
        values = [(s[index + 1] - s[index]) * 1000 if index < 5 else (s[5] - s[0]) * 1000
                  for s in whole]
        print(f"  {name:18s} p50 {_cut(values, 50):8.3f}  p90 {_cut(values, 90):8.3f}  "
              f"p99 {_cut(values, 99):8.3f}  max {max(values):8.2f}")
    reads = sorted(s[0] for s in whole)
    gaps = sorted(((b - a) * 1000 for a, b in zip(reads, reads[1:], strict=False)),
                  reverse=True)
    print(f"  longest gaps with no request read: {', '.join(f'{g:.1f}' for g in gaps[:5])}")
    by_read = sorted(whole, key=lambda s: s[0])
    overtaken = sum(1 for a, b in zip(by_read, by_read[1:], strict=False) if b[5] < a[5])
    print(f"  answers written before the answer to an earlier-read request: {overtaken}")
    for generation in range(3):
        seen = [(w, c) for g, w, c in _collections if g == generation]
        if seen:
            print(f"  gc gen{generation}: {len(seen)} collections, wall max "
                  f"{max(w for w, _ in seen) * 1000:.2f} ms, CPU p50 "
                  f"{statistics.median(c for _, c in seen) * 1000:.3f} max "
                  f"{max(c for _, c in seen) * 1000:.2f} ms (from start, model load included)")


def main(argv: list[str]) -> int:
    settings = ServerSettings.from_env(os.environ, model_dir=argv[0], port=int(argv[1]))
    os.environ.update(settings.to_env())
    _watch_collections()
    app = _instrument(build_app(settings))
    try:
        uvicorn.run(app, host="127.0.0.1", port=settings.port,
                    http=_protocol(HttpLimits.from_env(os.environ)), loop="uvloop",
                    lifespan="on", access_log=False, log_level="warning",
                    timeout_keep_alive=30, server_header=False)
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    report()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
