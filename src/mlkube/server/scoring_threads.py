"""The threads that run predict / run(), off the event loop.

A lean replacement for ``loop.run_in_executor(ThreadPoolExecutor)``: one C-level
``SimpleQueue`` in, one ``call_soon_threadsafe`` out, no concurrent.futures Future to
chain. On a one-row request the executor machinery cost more than LightGBM's predict.
With one thread (the default) ``run`` is never called concurrently, as on Azure ML.

Calls are handed over in arrival order and in groups: every call the event loop makes in
one pass over its ready callbacks goes to the thread as one item, and the thread hands
the outcomes of a group back in one callback (or every ``HAND_BACK_S`` for a slow
group). Each call still runs alone, in order. At overload one hand-off per request meant
the loop and the scoring thread woke each other for every request, each waiting for the
GIL the other held, and answers went out in bursts (``bench/fairness.py``); grouped, the
two threads take turns once per pass. With several threads each call is its own item,
so they run in parallel; a micro-batch (``batching.py``) is handed over at once.

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

#: A group's finished outcomes go back to the loop at least this often, so a slow call in
#: a group does not hold back the answers of the calls before it.
HAND_BACK_S = 0.002

#: One call: the future its request awaits, the function and its argument.
_Call = tuple["asyncio.Future[Any]", Callable[[Any], Any], Any]
#: One outcome: the future, the result, the error (or None).
_Outcome = tuple["asyncio.Future[Any]", Any, "BaseException | None"]


class ScoringThreads:
    """A fixed pool of daemon threads fed from one queue."""

    def __init__(self, count: int, *, name: str = "mlkube-scoring") -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        #: Per thread: the future and start time of the call it runs, else None.
        self._current: list[tuple[asyncio.Future[Any], float] | None] = [None] * count
        #: Per event loop: calls made during its current pass, not yet handed over.
        self._gathering: dict[asyncio.AbstractEventLoop, list[_Call]] = {}
        self._threads = [threading.Thread(target=self._work, args=(i,), name=f"{name}-{i}",
                                          daemon=True)
                         for i in range(count)]
        for thread in self._threads:
            thread.start()

    def run(self, function: Callable[[Any], Any], argument: Any, *,
            at_once: bool = False) -> asyncio.Future[Any]:
        """``function(argument)`` in a scoring thread; await the returned future.

        ``at_once`` hands the call over now instead of with the rest of this pass: for a
        call that is a group already (a micro-batch), which waiting would only delay."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if at_once or len(self._threads) > 1:
            self._queue.put((loop, [(future, function, argument)]))
            return future
        calls = self._gathering.get(loop)
        if calls is None:
            calls = self._gathering[loop] = []
            loop.call_soon(self._hand_over, loop)
        calls.append((future, function, argument))
        return future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the event loop, after the callbacks of one pass: the calls they made, as
        one item, in the order they were made."""
        calls = self._gathering.pop(loop, None)
        if calls:
            self._queue.put((loop, calls))

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
            loop, calls = item
            outcomes: list[_Outcome] = []
            handed_back = time.monotonic()
            for future, function, argument in calls:
                if future.done():
                    continue  # timed out while queued: do not run it at all
                started = time.monotonic()
                self._current[slot] = (future, started)
                try:
                    outcomes.append((future, function(argument), None))
                except BaseException as error:  # handed to the awaiting request
                    outcomes.append((future, None, error))
                finally:
                    self._current[slot] = None
                if future.cancelled():
                    logger.warning("A scoring call whose request timed out returned after "
                                   "%.1f s; its thread scores again.",
                                   time.monotonic() - started)
                if time.monotonic() - handed_back > HAND_BACK_S:
                    _call_back(loop, self._finish, outcomes)
                    outcomes = []
                    handed_back = time.monotonic()
            if outcomes:
                _call_back(loop, self._finish, outcomes)

    @staticmethod
    def _finish(outcomes: list[_Outcome]) -> None:
        """On the event loop: hand each outcome to its request (unless it timed out)."""
        for future, result, error in outcomes:
            if future.done():
                continue
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
