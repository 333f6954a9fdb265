"""Live traffic figures per deployment, from the endpoint gateway's ``GET /metrics``.

The gateway counts every answered request by deployment and status code and keeps a
latency histogram per deployment (``gateway/metrics.py``). Two scrapes a few seconds
apart give, per deployment, requests per second, the error rate (5xx and 4xx other than
401/404, which never reached a deployment, over all) and p50 / p99 latency from the
histogram's bucket deltas, interpolated within a bucket as Prometheus'
``histogram_quantile`` does. The browser only draws what this module computes.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

REQUESTS = "mlkube_gateway_requests_total"
DURATION = "mlkube_gateway_request_duration_seconds"
#: Points kept per endpoint (one per scrape, every few seconds: some minutes of history).
HISTORY = 120
SCRAPE_TIMEOUT_S = 2.0

_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+'
                     r'(?P<value>\S+)$')
_LABEL = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class Scrape:
    """The gateway's counters at one moment, per deployment."""

    at: float
    requests: dict[str, float] = field(default_factory=dict)
    errors: dict[str, float] = field(default_factory=dict)
    #: deployment -> [(upper bound, cumulative count)], ascending, +Inf last.
    buckets: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


def parse_gateway_metrics(text: str, *, at: float) -> Scrape:
    scrape = Scrape(at=at)
    buckets: defaultdict[str, list[tuple[float, float]]] = defaultdict(list)
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"] or ""))
        deployment = labels.get("deployment", "")
        if not deployment:
            continue  # answered before a deployment was chosen (401, 404)
        value = float(match["value"])
        if match["name"] == REQUESTS:
            scrape.requests[deployment] = scrape.requests.get(deployment, 0.0) + value
            if _is_error(labels.get("code", "")):
                scrape.errors[deployment] = scrape.errors.get(deployment, 0.0) + value
        elif match["name"] == DURATION + "_bucket":
            bound = labels.get("le", "+Inf")
            buckets[deployment].append((math.inf if bound == "+Inf" else float(bound), value))
    scrape.buckets = {d: sorted(b) for d, b in buckets.items()}
    return scrape


def _is_error(code: str) -> bool:
    return code.isdigit() and (int(code) >= 500 or int(code) in (408, 424, 429))


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of cumulative ``buckets`` (bound, count), None with no counts."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # past the last finite bucket: its bound, as Prometheus
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def rates(previous: Scrape, current: Scrape) -> dict[str, dict[str, float | None]]:
    """Per deployment: ``rps``, ``error_rate`` (0..1), ``p50_ms``, ``p99_ms`` between two
    scrapes (a counter that went down means the gateway restarted: counted from zero)."""
    seconds = max(current.at - previous.at, 1e-6)
    figures: dict[str, dict[str, float | None]] = {}
    for deployment, total in current.requests.items():
        before = previous.requests.get(deployment, 0.0)
        restarted = total < before
        requests = total if restarted else total - before
        errors = current.errors.get(deployment, 0.0) - (
            0.0 if restarted else previous.errors.get(deployment, 0.0))
        old = {} if restarted else dict(previous.buckets.get(deployment, []))
        delta = [(bound, count - old.get(bound, 0.0))
                 for bound, count in current.buckets.get(deployment, [])]
        p50, p99 = quantile(0.5, delta), quantile(0.99, delta)
        figures[deployment] = {
            "rps": requests / seconds,
            "error_rate": (errors / requests) if requests > 0 else 0.0,
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
