"""The inference server's counters at ``GET /metrics`` (format: ``mlkube.prometheus``).

Counts requests by route and status and keeps histograms of request latency, predict
time and batch sizes. Each worker process has its own registry (as with
prometheus_client without its multiprocess mode): scrape workers separately or run one
worker per container.
"""

from __future__ import annotations

import collections
import threading

from mlkube.prometheus import Histogram, family, labels, sample, text

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """The server's metrics registry (one per worker process)."""

    def __init__(self) -> None:
        self.requests: collections.Counter[tuple[str, int]] = collections.Counter()
        self.latency: dict[str, Histogram] = {}
        self.predict = Histogram(LATENCY_BUCKETS)
        self.batch_size = Histogram(BATCH_BUCKETS)
        # Predict times are observed by the scoring threads and, for calls run on the
        # event loop, by the loop's thread: a histogram's += must not lose counts.
        self._predict_lock = threading.Lock()

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests[(route, status)] += 1
        histogram = self.latency.get(route)
        if histogram is None:
            histogram = self.latency[route] = Histogram(LATENCY_BUCKETS)
        histogram.observe(seconds)

    def observe_predict(self, seconds: float) -> None:
        with self._predict_lock:
            self.predict.observe(seconds)

    def observe_batch(self, size: int) -> None:
        self.batch_size.observe(size)

    def render(self) -> bytes:
        lines = family("mlkube_requests_total", "counter",
                       "HTTP requests by route and status code.")
        for (route, status), count in sorted(self.requests.items()):
            lines.append(sample("mlkube_requests_total", labels(route=route, status=status),
                                count))
        lines += family("mlkube_request_duration_seconds", "histogram",
                        "Time from request to response.")
        for route, histogram in sorted(self.latency.items()):
            lines += histogram.lines("mlkube_request_duration_seconds", labels(route=route))
        lines += family("mlkube_predict_duration_seconds", "histogram",
                        "Time in the model's predict or the entry script's run (per call; "
                        "a batch is one call).")
        lines += self.predict.lines("mlkube_predict_duration_seconds")
        lines += family("mlkube_batch_size", "histogram", "Requests per batched predict.")
        lines += self.batch_size.lines("mlkube_batch_size")
        return text(lines).encode()
