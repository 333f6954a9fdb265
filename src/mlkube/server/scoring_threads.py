"""The threads that run predict / run(), off the event loop.

A lean replacement for ``loop.run_in_executor(ThreadPoolExecutor)``: one C-level
``SimpleQueue`` in, one ``call_soon_threadsafe`` out, no concurrent.futures Future to
chain. On a one-row request the executor machinery cost more than LightGBM's predict.
With one thread (the default) ``run`` is never called concurrently, as on Azure ML.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any


class ScoringThreads:
    """A fixed pool of daemon threads fed from one queue."""

    def __init__(self, count: int, *, name: str = "mlkube-scoring") -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(count)]
        for thread in self._threads:
            thread.start()

    def run(self, function: Callable[[Any], Any], argument: Any) -> asyncio.Future[Any]:
        """``function(argument)`` in a scoring thread; await the returned future."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((loop, future, function, argument))
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            loop, future, function, argument = item
            if future.done():
                continue  # timed out while queued: do not run it at all
            try:
                result = function(argument)
            except BaseException as error:  # handed to the awaiting request
                _call_back(loop, self._finish, future, None, error)
            else:
                _call_back(loop, self._finish, future, result, None)

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
