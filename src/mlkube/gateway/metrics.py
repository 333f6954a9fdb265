"""The gateway's counters at ``GET /metrics`` (format: ``mlkube.prometheus``).

Kept in plain dicts on the event loop (one scrape a few seconds apart costs nothing).
Requests answered before a deployment was chosen (401, 404) carry ``deployment=""``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from mlkube.prometheus import Histogram, family, labels, sample, text

#: Latency buckets in seconds: fine below 100 ms, where scoring latency usually lies.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """Counters of answered requests, mirrored copies and config reloads."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, int], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.mirrored: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.reloads: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.retries: defaultdict[tuple[str, str], int] = defaultdict(int)

    def observe_request(self, deployment: str, status: int, seconds: float) -> None:
        self.requests[(deployment, status)] += 1
        histogram = self.latency.get(deployment)
        if histogram is None:
            histogram = self.latency[deployment] = Histogram(BUCKETS)
        histogram.observe(seconds)

    def observe_mirror(self, deployment: str, outcome: str) -> None:
        """``outcome`` is the mirror's status code as text, or why it got none."""
        self.mirrored[(deployment, outcome)] += 1

    def observe_retry(self, deployment: str, reason: str) -> None:
        """A request sent to another instance: ``reason`` is refused or not_ready."""
        self.retries[(deployment, reason)] += 1

    def observe_reload(self, file: str, outcome: str) -> None:
        self.reloads[(file, outcome)] += 1

    def render(self, *, in_flight: Iterable[tuple[str, int, int]], config_digest: str) -> str:
        """Prometheus text; ``in_flight`` gives (deployment, in flight, capacity)."""
        name = "mlkube_gateway_requests_total"
        lines = family(name, "counter", "Requests answered, by deployment and status.")
        for (deployment, status), count in sorted(self.requests.items()):
            lines.append(sample(name, labels(deployment=deployment, code=status), count))
        name = "mlkube_gateway_request_duration_seconds"
        lines += family(name, "histogram", "Time from request to answer.")
        for deployment, histogram in sorted(self.latency.items()):
            lines += histogram.lines(name, labels(deployment=deployment))
        name = "mlkube_gateway_mirrored_requests_total"
        lines += family(name, "counter", "Mirrored copies, by outcome.")
        for (deployment, outcome), count in sorted(self.mirrored.items()):
            lines.append(sample(name, labels(deployment=deployment, outcome=outcome), count))
        name = "mlkube_gateway_retries_total"
        lines += family(name, "counter", "Requests sent to another instance after one "
                        "provably did not take them, by reason.")
        for (deployment, reason), count in sorted(self.retries.items()):
            lines.append(sample(name, labels(deployment=deployment, reason=reason), count))
        current = sorted(in_flight)
        lines += family("mlkube_gateway_in_flight", "gauge",
                        "Requests in flight per deployment.")
        lines += [sample("mlkube_gateway_in_flight", labels(deployment=deployment), busy)
                  for deployment, busy, _ in current]
        lines += family("mlkube_gateway_capacity", "gauge",
                        "Requests a deployment admits at once.")
        lines += [sample("mlkube_gateway_capacity", labels(deployment=deployment), capacity)
                  for deployment, _, capacity in current]
        name = "mlkube_gateway_config_reloads_total"
        lines += family(name, "counter", "Config and keys file reloads.")
        for (file, outcome), count in sorted(self.reloads.items()):
            lines.append(sample(name, labels(file=file, outcome=outcome), count))
        lines += family("mlkube_gateway_config_info", "gauge",
                        "The config the gateway is serving.")
        lines.append(sample("mlkube_gateway_config_info", labels(digest=config_digest), 1))
        return text(lines)
