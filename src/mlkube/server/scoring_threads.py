"""The threads that run predict / run(), off the event loop.

A lean replacement for ``loop.run_in_executor(ThreadPoolExecutor)``: one C-level
``SimpleQueue`` in, one ``call_soon_threadsafe`` out, no concurrent.futures Future to
chain. On a one-row request the executor machinery cost more than LightGBM's predict.
With one thread (the default) ``run`` is never called concurrently, as on Azure ML.

A call cannot be stopped once it runs (Python threads cannot be killed), so a request
that times out leaves its call holding the thread. The pool says which calls are
*overdue* (their request gave up, or they have run past the timeout), so the app can
answer readiness and new requests truthfully instead of queueing them behind it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("mlkube.server")


class ScoringThreads:
    """A fixed pool of daemon threads fed from one queue."""

    def __init__(self, count: int, *, name: str = "mlkube-scoring") -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        #: Per thread: the future and start time of the call it runs, else None.
        self._current: list[tuple[asyncio.Future[Any], float] | None] = [None] * count
        self._threads = [threading.Thread(target=self._work, args=(i,), name=f"{name}-{i}",
                                          daemon=True)
                         for i in range(count)]
        for thread in self._threads:
            thread.start()

    def run(self, function: Callable[[Any], Any], argument: Any) -> asyncio.Future[Any]:
        """``function(argument)`` in a scoring thread; await the returned future."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((loop, future, function, argument))
        return future

    @property
    def count(self) -> int:
        return len(self._threads)

    def overdue(self, timeout: float) -> list[float]:
        """For each call still running past its time, how long it has run: its request
        timed out (the future was cancelled), or it ran longer than ``timeout`` (a
        micro-batch, whose future no single request owns)."""
        now = time.monotonic()
        late = []
        for current in self._current:
            if current is not None:
                future, started = current
                if future.cancelled() or now - started > timeout:
                    late.append(now - started)
        return late

    def _work(self, slot: int) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            loop, future, function, argument = item
            if future.done():
                continue  # timed out while queued: do not run it at all
            started = time.monotonic()
            self._current[slot] = (future, started)
            try:
                result = function(argument)
            except BaseException as error:  # handed to the awaiting request
                _call_back(loop, self._finish, future, None, error)
            else:
                _call_back(loop, self._finish, future, result, None)
            finally:
                self._current[slot] = None
            if future.cancelled():
                logger.warning("A scoring call whose request timed out returned after "
                               "%.1f s; its thread scores again.", time.monotonic() - started)

    @staticmethod
    def _finish(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        """On the event loop: hand the outcome to the request (unless it timed out)."""
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def shutdown(self) -> None:
        for _ in self._threads:
            self._queue.put(None)


def _call_back(loop: asyncio.AbstractEventLoop, callback: Callable[..., None],
               *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        pass  # the loop closed (server shutting down): nobody is waiting
