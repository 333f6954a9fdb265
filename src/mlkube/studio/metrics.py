"""Live traffic figures per deployment, from the endpoint gateway's ``GET /metrics``.

The gateway counts every answered request by deployment and status code and keeps a
latency histogram per deployment (``gateway/metrics.py``). Two scrapes a few seconds
apart give, per deployment, requests per second, the error rate and p50 / p99 latency,
read the way the progressive rollout reads them (``operations.deployment_health``: the
same parser, failure codes and ``histogram_quantile``). The browser only draws what
this module computes.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from mlkube.operations.deployment_health import (
    DeploymentCounts,
    histogram_quantile,
    parse_counts,
)

#: Points kept per endpoint (one per scrape, every few seconds: some minutes of history).
HISTORY = 120
SCRAPE_TIMEOUT_S = 2.0


@dataclass
class Scrape:
    """The gateway's counters at one moment, per deployment."""

    at: float
    counts: dict[str, DeploymentCounts] = field(default_factory=dict)


def parse_gateway_metrics(text: str, *, at: float) -> Scrape:
    return Scrape(at=at, counts=parse_counts(text))


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of cumulative ``buckets`` (bound, count), None with no counts;
    past the last finite bucket, that bucket's bound (a chart has no point at inf)."""
    value = histogram_quantile(q, tuple((b, int(n)) for b, n in buckets))
    if value is not None and math.isinf(value):
        finite = [bound for bound, _ in buckets if not math.isinf(bound)]
        return finite[-1] if finite else 0.0
    return value


def rates(previous: Scrape, current: Scrape) -> dict[str, dict[str, float | None]]:
    """Per deployment: ``rps``, ``error_rate`` (0..1), ``p50_ms``, ``p99_ms`` between two
    scrapes (a counter that went down means the gateway restarted: counted from zero)."""
    seconds = max(current.at - previous.at, 1e-6)
    figures: dict[str, dict[str, float | None]] = {}
    for deployment, counts in current.counts.items():
        window = counts.minus(previous.counts.get(deployment, DeploymentCounts()))
        p50, p99 = quantile(0.5, list(window.buckets)), quantile(0.99, list(window.buckets))
        figures[deployment] = {
            "rps": window.answers / seconds,
            "error_rate": window.error_rate,
            "p50_ms": None if p50 is None else p50 * 1000,
            "p99_ms": None if p99 is None else p99 * 1000,
        }
    return figures


class EndpointMetrics:
    """Scrapes each endpoint's gateway when its page asks, and keeps the recent points."""

    def __init__(self) -> None:
        self._last: dict[str, Scrape] = {}
        self._points: dict[str, deque[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def sample(self, endpoint: str, metrics_url: str) -> dict[str, Any]:
        """Scrape now (at most once a second per endpoint) and return the history:
        ``{"points": [{"t": unix seconds, "deployments": {name: figures}}], "error"}``."""
        import httpx

        error = None
        with self._lock:
            last = self._last.get(endpoint)
            points = self._points.setdefault(endpoint, deque(maxlen=HISTORY))
        if last is None or time.time() - last.at >= 1.0:
            try:
                response = httpx.get(metrics_url, timeout=SCRAPE_TIMEOUT_S, trust_env=False)
                response.raise_for_status()
            except httpx.HTTPError as failure:
                error = f"The gateway's metrics at {metrics_url} did not answer: {failure}"
            else:
                current = parse_gateway_metrics(response.text, at=time.time())
                with self._lock:
                    if last is not None:
                        points.append({"t": current.at, "deployments": rates(last, current)})
                    self._last[endpoint] = current
        with self._lock:
            return {"points": list(points), "error": error}
