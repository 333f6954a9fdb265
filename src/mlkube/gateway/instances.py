"""The instances of one deployment: admission control and load balancing.

A deployment admits ``max_concurrent_requests_per_instance`` x instances requests at
once. A request beyond that waits in a FIFO queue for up to ``max_queue_wait_ms``, then
gets 429 (Azure ML's semantics). An admitted request goes to the instance with the fewest
requests in flight; ties rotate, so idle instances are used round robin.

Single-threaded by design: everything runs on the gateway's event loop, so counters need
no locks.
"""

from __future__ import annotations

import asyncio
from collections import deque

from mlkube.errors import ModelContainerError, TooManyRequestsError
from mlkube.gateway.config import DeploymentRoute


class InstancePool:
    """In-flight counts per instance of one deployment, with a bounded wait for a slot."""

    def __init__(self, route: DeploymentRoute) -> None:
        self.route = route
        self.instances = route.instances
        self.in_flight = [0] * len(route.instances)
        self.total_in_flight = 0
        self.capacity = route.capacity
        self._waiters: deque[asyncio.Future[int]] = deque()
        self._rotation = 0

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

    def _take(self) -> int:
        counts = self.in_flight
        size = len(counts)
        start = self._rotation
        self._rotation = (start + 1) % size
        best = start
        for offset in range(1, size):
            candidate = (start + offset) % size
            if counts[candidate] < counts[best]:
                best = candidate
        counts[best] += 1
        self.total_in_flight += 1
        return best

    def no_instance_error(self) -> ModelContainerError:
        route = self.route
        reason = route.reason or "it has no running instance"
        return ModelContainerError(
            f"Deployment '{route.name}' cannot take requests: state {route.state}, {reason}.",
            hint=f"Check `mlkube online-deployment get-logs -n {route.name}` and its status; "
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
