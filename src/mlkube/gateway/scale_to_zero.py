"""Holding requests for a deployment that scaled to zero, and the activity that decides it.

The gateway is the only part of an endpoint that sees every request, so it keeps, per
deployment, when the last request came (``idle_s``) and how many requests it holds
because the deployment has no running instance (``held``); ``GET /`` reports both, and
the integral over time of its requests in flight (``busy_s``), and whoever scales the
deployment reads them there (the local autoscaler) or here (the
gateway's own Kubernetes scaler).

A held request waits, never longer than its deployment's ``request_timeout_ms``, until
``ready()`` says an instance serves (a reload brought instances, or the Kubernetes scaler
saw one answer), then goes on as any request. Past ``held_limit`` held requests the next
is refused at once with 429; one that times out gets 503 ``DEPLOYMENT_STARTING``; none is
dropped without an answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from mlkube.errors import DeploymentStartingError, TooManyRequestsError


class Activity:
    """Per deployment: last request time and held requests; wakes holders on a change."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        # Per deployment: requests forwarded now, when that count last changed, and the
        # integral of the count over time until then.
        self._forwarding: dict[str, list[float]] = {}
        self._changed = asyncio.Event()

    def touch(self, deployment: str) -> None:
        """A request reached ``deployment`` now."""
        self._last[deployment] = self._clock()

    def begin(self, deployment: str) -> None:
        """A request to ``deployment`` is forwarded from now (held time is not load)."""
        self._step(deployment, +1)

    def end(self, deployment: str) -> None:
        self._step(deployment, -1)

    def busy_s(self, deployment: str) -> float:
        """The integral of requests in flight over time: its growth over a window,
        divided by the window, is the mean number in flight in it, a steadier signal than
        any one sample, and requests still running count."""
        count, since, integral = self._forwarding.get(deployment, (0.0, 0.0, 0.0))
        return integral + count * (self._clock() - since)

    def _step(self, deployment: str, change: int) -> None:
        now = self._clock()
        count, since, integral = self._forwarding.get(deployment, (0.0, now, 0.0))
        self._forwarding[deployment] = [count + change, now, integral + count * (now - since)]

    def track(self, deployments: Iterable[str]) -> None:
        """``deployments`` are in the gateway's routes now: one new to them is idle from
        now, not from the gateway's start, so a deployment added to a long-running gateway
        is not put to sleep before its traffic is even set."""
        now = self._clock()
        for name in deployments:
            self._last.setdefault(name, now)

    def idle_s(self, deployment: str) -> float:
        """Seconds since the last request (since it joined the routes, if none came)."""
        return self._clock() - self._last.get(deployment, self._started)

    def held(self, deployment: str) -> int:
        return self._held.get(deployment, 0)

    def notify(self) -> None:
        """Something changed (a reload, an instance became ready): holders look again."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def hold(self, deployment: str, *, ready: Callable[[], bool], held_limit: int,
                   timeout_s: float, request_timeout_ms: int) -> None:
        """Return once ``ready()``; raise 429 past ``held_limit``, 503 past ``timeout_s``
        (what is left of the deployment's ``request_timeout_ms``)."""
        if ready():
            return
        if self.held(deployment) >= held_limit:
            raise TooManyRequestsError(
                f"Deployment '{deployment}' is starting from zero instances and already "
                f"holds {held_limit} requests (its held_limit).",
                hint="Retry with backoff in a few seconds; the deployment is starting.")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        self._held[deployment] = self.held(deployment) + 1
        try:
            while not ready():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise DeploymentStartingError(
                        f"Deployment '{deployment}' had scaled to zero instances and no "
                        f"instance became ready within request_timeout_ms="
                        f"{request_timeout_ms}.",
                        hint="Retry in a few seconds (it is starting); raise "
                             "request_settings.request_timeout_ms above its start time, or "
                             "keep min_instances at 1 for it.")
                changed = self._changed
                try:
                    await asyncio.wait_for(changed.wait(), timeout=min(remaining, 0.5))
                except TimeoutError:
                    pass
        finally:
            self._held[deployment] -= 1
