"""The gateway's counters, rendered in the Prometheus text format at ``GET /metrics``.

Kept in plain dicts on the event loop (no client library: the gateway image stays lean,
and one scrape a few seconds apart costs nothing). Requests answered before a deployment
was chosen (401, 404) carry ``deployment=""``.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable

#: Latency buckets in seconds: fine below 100 ms, where scoring latency usually lies.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """Counters of answered requests, mirrored copies and config reloads."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, int], int] = defaultdict(int)
        self._latency_counts: defaultdict[str, list[int]] = defaultdict(
            lambda: [0] * (len(BUCKETS) + 1))
        self._latency_sum: defaultdict[str, float] = defaultdict(float)
        self.mirrored: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.reloads: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.retries: defaultdict[tuple[str, str], int] = defaultdict(int)

    def observe_request(self, deployment: str, status: int, seconds: float) -> None:
        self.requests[(deployment, status)] += 1
        self._latency_counts[deployment][bisect.bisect_left(BUCKETS, seconds)] += 1
        self._latency_sum[deployment] += seconds

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
        lines = [
            "# HELP mlkube_gateway_requests_total Requests answered, by deployment and status.",
            "# TYPE mlkube_gateway_requests_total counter",
        ]
        for (deployment, status), count in sorted(self.requests.items()):
            lines.append(f'mlkube_gateway_requests_total{{deployment="{deployment}",'
                         f'code="{status}"}} {count}')
        lines += [
            "# HELP mlkube_gateway_request_duration_seconds Time from request to answer.",
            "# TYPE mlkube_gateway_request_duration_seconds histogram",
        ]
        for deployment, counts in sorted(self._latency_counts.items()):
            running = 0
            for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'mlkube_gateway_request_duration_seconds_bucket{{deployment='
                             f'"{deployment}",le="{le}"}} {running}')
            lines.append(f'mlkube_gateway_request_duration_seconds_sum{{deployment='
                         f'"{deployment}"}} {self._latency_sum[deployment]:.6f}')
            lines.append(f'mlkube_gateway_request_duration_seconds_count{{deployment='
                         f'"{deployment}"}} {running}')
        lines += [
            "# HELP mlkube_gateway_mirrored_requests_total Mirrored copies, by outcome.",
            "# TYPE mlkube_gateway_mirrored_requests_total counter",
        ]
        for (deployment, outcome), count in sorted(self.mirrored.items()):
            lines.append(f'mlkube_gateway_mirrored_requests_total{{deployment="{deployment}",'
                         f'outcome="{outcome}"}} {count}')
        lines += [
            "# HELP mlkube_gateway_retries_total Requests sent to another instance after one "
            "provably did not take them, by reason.",
            "# TYPE mlkube_gateway_retries_total counter",
        ]
        for (deployment, reason), count in sorted(self.retries.items()):
            lines.append(f'mlkube_gateway_retries_total{{deployment="{deployment}",'
                         f'reason="{reason}"}} {count}')
        lines += [
            "# HELP mlkube_gateway_in_flight Requests in flight per deployment.",
            "# TYPE mlkube_gateway_in_flight gauge",
        ]
        capacity_lines = [
            "# HELP mlkube_gateway_capacity Requests a deployment admits at once.",
            "# TYPE mlkube_gateway_capacity gauge",
        ]
        for deployment, current, capacity in sorted(in_flight):
            lines.append(f'mlkube_gateway_in_flight{{deployment="{deployment}"}} {current}')
            capacity_lines.append(f'mlkube_gateway_capacity{{deployment="{deployment}"}} '
                                  f'{capacity}')
        lines += capacity_lines
        lines += [
            "# HELP mlkube_gateway_config_reloads_total Config and keys file reloads.",
            "# TYPE mlkube_gateway_config_reloads_total counter",
        ]
        for (file, outcome), count in sorted(self.reloads.items()):
            lines.append(f'mlkube_gateway_config_reloads_total{{file="{file}",'
                         f'outcome="{outcome}"}} {count}')
        lines += [
            "# HELP mlkube_gateway_config_info The config the gateway is serving.",
            "# TYPE mlkube_gateway_config_info gauge",
            f'mlkube_gateway_config_info{{digest="{config_digest}"}} 1',
        ]
        return "\n".join(lines) + "\n"
