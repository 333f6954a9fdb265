"""Prometheus metrics at ``GET /metrics``, in the text exposition format, no dependency.

Counts requests by route and status and keeps histograms of request latency, predict
time and batch sizes. Updates are a dict increment and a bisect, cheap enough for the
hot path. Each worker process has its own registry (as with prometheus_client without
its multiprocess mode): scrape workers separately or run one worker per container.
"""

from __future__ import annotations

import bisect
import collections
from collections.abc import Sequence

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Histogram:
    """Cumulative-bucket histogram as Prometheus expects it."""

    __slots__ = ("buckets", "counts", "total", "count")

    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        out = []
        running = 0
        sep = "," if labels else ""
        for bound, count in zip(self.buckets, self.counts, strict=False):
            running += count
            out.append(f'{name}_bucket{{{labels}{sep}le="{_number(bound)}"}} {running}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        suffix = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{suffix} {self.total!r}")
        out.append(f"{name}_count{suffix} {self.count}")
        return out


class Metrics:
    """The server's metrics registry (one per worker process)."""

    def __init__(self) -> None:
        self.requests: collections.Counter[tuple[str, int]] = collections.Counter()
        self.latency: dict[str, Histogram] = {}
        self.predict = Histogram(LATENCY_BUCKETS)
        self.batch_size = Histogram(BATCH_BUCKETS)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests[(route, status)] += 1
        histogram = self.latency.get(route)
        if histogram is None:
            histogram = self.latency[route] = Histogram(LATENCY_BUCKETS)
        histogram.observe(seconds)

    def observe_predict(self, seconds: float) -> None:
        self.predict.observe(seconds)

    def observe_batch(self, size: int) -> None:
        self.batch_size.observe(size)

    def render(self) -> bytes:
        lines = [
            "# HELP mlkube_requests_total HTTP requests by route and status code.",
            "# TYPE mlkube_requests_total counter",
        ]
        for (route, status), count in sorted(self.requests.items()):
            lines.append(f'mlkube_requests_total{{route="{route}",status="{status}"}} {count}')
        lines += ["# HELP mlkube_request_duration_seconds Time from request to response.",
                  "# TYPE mlkube_request_duration_seconds histogram"]
        for route, histogram in sorted(self.latency.items()):
            lines += histogram.lines("mlkube_request_duration_seconds", f'route="{route}"')
        lines += ["# HELP mlkube_predict_duration_seconds Time in the model's predict or "
                  "the entry script's run (per call; a batch is one call).",
                  "# TYPE mlkube_predict_duration_seconds histogram"]
        lines += self.predict.lines("mlkube_predict_duration_seconds")
        lines += ["# HELP mlkube_batch_size Requests per batched predict.",
                  "# TYPE mlkube_batch_size histogram"]
        lines += self.batch_size.lines("mlkube_batch_size")
        return ("\n".join(lines) + "\n").encode()


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)
