"""One timer for every scoring request's time limit (SCORING_TIMEOUT_MS).

Why this exists: ``asyncio.timeout`` makes a Timeout object and arms, reschedules and
cancels a timer handle for every request; py-spy put 7-9 % of a one-row request's samples
there (measured alone with bench/ab.py the change is smaller: about 5 % less CPU per
request, at that script's noise floor). Every scoring request has the same
limit, so deadlines fall due in arrival order: a dict in insertion order is then a queue
sorted by deadline, and a single timer set for its oldest entry serves them all. A
request that ends early costs one dict insert and one delete.

A request past its deadline has the future it awaits cancelled and gets
``asyncio.TimeoutError``, as with ``asyncio.timeout``; the call behind it keeps running
(threads cannot be stopped), and ``ScoringThreads`` counts it overdue because its
future was cancelled.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, TypeVar

T = TypeVar("T")


class Deadlines:
    """Waits on futures, each for at most ``seconds``, with one timer between them."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._keys = itertools.count()
        #: In arrival order, so in deadline order: key -> (deadline, future).
        self._waiting: dict[int, tuple[float, asyncio.Future[Any]]] = {}
        self._timer: asyncio.TimerHandle | None = None

    async def wait(self, future: asyncio.Future[T]) -> T:
        """``await future``, or ``asyncio.TimeoutError`` (and the future cancelled) once
        ``seconds`` have passed."""
        loop = future.get_loop()
        key = next(self._keys)
        deadline = loop.time() + self._seconds
        self._waiting[key] = (deadline, future)
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._expire, loop)
        try:
            return await future
        except asyncio.CancelledError:
            if key in self._waiting:
                raise  # the request itself was cancelled (shutdown, client gone)
            raise asyncio.TimeoutError from None
        finally:
            self._waiting.pop(key, None)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """Cancel every wait that is due; set the timer for the next one."""
        self._timer = None
        now = loop.time()
        due = []
        for key, (deadline, _future) in self._waiting.items():
            if deadline > now:
                self._timer = loop.call_at(deadline, self._expire, loop)
                break
            due.append(key)
        for key in due:
            _deadline, future = self._waiting.pop(key)
            future.cancel()
