"""The instances of one deployment: admission control and load balancing.

A deployment admits ``max_concurrent_requests_per_instance`` x instances requests at
once. A request beyond that waits in a FIFO queue for up to ``max_queue_wait_ms``, then
gets 429 (Azure ML's semantics). An admitted request goes to the instance with the fewest
requests in flight; ties rotate, so idle instances are used round robin.

Passive health: an instance that refused a request or answered "model not ready" is
marked unhealthy for a short cool-down, during which new requests prefer the others;
after it, the instance is tried again (a restarted instance needs no signal to rejoin).
While no instance is cooling down, choosing one costs what it did before.

Single-threaded by design: everything runs on the gateway's event loop, so counters need
no locks.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from mlkube.errors import ModelContainerError, TooManyRequestsError
from mlkube.gateway.config import DeploymentRoute

#: How long an instance that failed a request is avoided; short, because a restarting
#: inference server is usually back within seconds and a probe costs one round trip.
DEFAULT_COOL_DOWN_S = 1.0


def logs_command(deployment: str, endpoint: str) -> str:
    """The command that shows a deployment's log, as a hint quotes it."""
    return (f"`mlkube online-deployment get-logs -n {deployment}"
            + (f" -e {endpoint}`" if endpoint else "`"))


class InstancePool:
    """In-flight counts per instance of one deployment, with a bounded wait for a slot."""

    def __init__(self, route: DeploymentRoute, *,
                 cool_down_s: float = DEFAULT_COOL_DOWN_S, endpoint: str = "") -> None:
        self.route = route
        #: The endpoint's name, for hints that name a command to run.
        self.endpoint = endpoint
        self.instances = route.instances
        self.in_flight = [0] * len(route.instances)
        self.total_in_flight = 0
        self.capacity = route.capacity
        self._waiters: deque[asyncio.Future[int]] = deque()
        self._rotation = 0
        self._cool_down_s = cool_down_s
        # time.monotonic() until which each instance is avoided; 0.0 means healthy.
        self._cooling_until = [0.0] * len(route.instances)
        self._cooling = 0  # instances with a non-zero entry: 0 keeps _take's fast path

    async def acquire(self, *, queue_wait_s: float | None = None) -> int:
        """Index of the instance to use; the caller must ``release`` it afterwards."""
        if not self.instances:
            raise self.no_instance_error()
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()
        if self.total_in_flight < self.capacity and not self._waiters:
            return self._take()
        wait = self.route.max_queue_wait_ms / 1000 if queue_wait_s is None else queue_wait_s
        if wait <= 0:
            raise self._full_error()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[int] = loop.create_future()
        self._waiters.append(waiter)
        # A timer, not asyncio.timeout: a slot handed over at the deadline must not leak.
        timer = loop.call_later(wait, _expire, waiter, self._full_error())
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release(waiter.result())
            raise
        finally:
            timer.cancel()
            if not waiter.done():
                waiter.cancel()

    @property
    def busy(self) -> int:
        """Requests in flight or queued: 0 means a retired deployment may be stopped."""
        return self.total_in_flight + sum(1 for waiter in self._waiters if not waiter.done())

    def release(self, index: int) -> None:
        """Give back a slot; the oldest waiter (if any) gets one at once."""
        self.in_flight[index] -= 1
        self.total_in_flight -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(self._take())
                return

    @property
    def cool_down_s(self) -> float:
        return self._cool_down_s

    def mark_unhealthy(self, index: int) -> bool:
        """Avoid instance ``index`` for the cool-down (it refused, or is not ready).

        True if it was healthy until now (worth one log line).
        """
        newly = not self.is_cooling(index)
        if not self._cooling_until[index]:
            self._cooling += 1
        self._cooling_until[index] = time.monotonic() + self._cool_down_s
        return newly

    def is_cooling(self, index: int) -> bool:
        """Whether instance ``index`` is in its cool-down (expired ones are cleared)."""
        until = self._cooling_until[index]
        if not until:
            return False
        if until > time.monotonic():
            return True
        self._cooling_until[index] = 0.0
        self._cooling -= 1
        return False

    def retarget(self, index: int, *, tried: list[int]) -> int | None:
        """Move this request's slot from ``index`` to an instance not in ``tried``.

        Healthy instances come first, then the least busy; None when all were tried.
        Only called after a failure, so it may be slower than ``_take``.
        """
        counts = self.in_flight
        size = len(counts)
        candidates = [candidate for candidate in ((index + offset) % size
                                                  for offset in range(1, size))
                      if candidate not in tried]
        if not candidates:
            return None
        best = min(candidates, key=lambda i: (self.is_cooling(i), counts[i]))
        counts[index] -= 1
        counts[best] += 1
        return best

    def _take(self) -> int:
        counts = self.in_flight
        size = len(counts)
        start = self._rotation
        self._rotation = (start + 1) % size
        if self._cooling:
            best = self._least_busy_healthy(start)
        else:
            best = start
            for offset in range(1, size):
                candidate = (start + offset) % size
                if counts[candidate] < counts[best]:
                    best = candidate
        counts[best] += 1
        self.total_in_flight += 1
        return best

    def _least_busy_healthy(self, start: int) -> int:
        counts = self.in_flight
        size = len(counts)
        best = -1
        for offset in range(size):
            candidate = (start + offset) % size
            if not self.is_cooling(candidate) and (best < 0 or counts[candidate] < counts[best]):
                best = candidate
        if best >= 0:
            return best
        # Every instance is cooling down: balance as if none were, rather than refuse.
        best = start
        for offset in range(1, size):
            candidate = (start + offset) % size
            if counts[candidate] < counts[best]:
                best = candidate
        return best

    def no_instance_error(self) -> ModelContainerError:
        route = self.route
        reason = route.reason or "it has no running instance"
        return ModelContainerError(
            f"Deployment '{route.name}' cannot take requests: state {route.state}, {reason}.",
            hint=f"Check {logs_command(route.name, self.endpoint)} and its status; "
                 "route traffic to a healthy deployment meanwhile.",
        )

    def _full_error(self) -> TooManyRequestsError:
        route = self.route
        return TooManyRequestsError(
            f"Deployment '{route.name}' has {self.capacity} requests in flight "
            f"({route.max_concurrent_requests_per_instance} per instance x "
            f"{self.capacity // route.max_concurrent_requests_per_instance} instances) and "
            f"none finished within "
            f"max_queue_wait_ms={route.max_queue_wait_ms}.",
            hint="Retry with backoff, or raise instance_count or "
                 "request_settings.max_concurrent_requests_per_instance.",
        )


def _expire(waiter: asyncio.Future[int], error: TooManyRequestsError) -> None:
    if not waiter.done():
        waiter.set_exception(error)
