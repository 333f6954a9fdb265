"""How one deployment fares, read from the gateway's Prometheus metrics by differences
between scrapes: its answers by status and its latency histogram over a window.

The gateway counts every answer it gives for a deployment
(``mlkube_gateway_requests_total{deployment,code}``) and its time to answer
(``mlkube_gateway_request_duration_seconds`` buckets). Counters only grow, so what
happened during a window is the difference of two scrapes of the same gateway process;
behind a Kubernetes Service each scrape may reach another replica, so a baseline is kept
per replica (the gateway names itself in ``x-mlkube-replica``) and a replica seen for the
first time only sets its baseline. A counter that went down means the gateway restarted:
its new values are then the difference. Parsing and arithmetic are pure; ``HealthWatch``
only keeps the baselines.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

REQUESTS = "mlkube_gateway_requests_total"
LATENCY_BUCKET = "mlkube_gateway_request_duration_seconds_bucket"
#: Answers a client sees as the deployment failing: 5xx, 424 (model container failed)
#: and 429 (past its capacity). Other 4xx are the client's own request.
FAILURE_CODES = frozenset({424, 429})
_SAMPLE = re.compile(r'^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$')
_LABEL = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class DeploymentCounts:
    """Cumulative (or, after ``minus``, windowed) counts of one deployment's answers."""

    by_code: dict[int, int] = field(default_factory=dict)
    #: (upper bound in seconds, answers at or below it), +inf last.
    buckets: tuple[tuple[float, int], ...] = ()

    @property
    def answers(self) -> int:
        return sum(self.by_code.values())

    @property
    def failures(self) -> int:
        return sum(n for code, n in self.by_code.items()
                   if code >= 500 or code in FAILURE_CODES)

    @property
    def error_rate(self) -> float:
        return self.failures / self.answers if self.answers else 0.0

    def quantile_ms(self, q: float) -> float | None:
        """The ``q`` quantile of latency in ms (``histogram_quantile``); None without
        answers, inf past the largest finite bucket."""
        seconds = histogram_quantile(q, self.buckets)
        return None if seconds is None else seconds * 1000

    def minus(self, earlier: DeploymentCounts) -> DeploymentCounts:
        """What happened since ``earlier``; all of self when a counter went back (the
        gateway restarted and counts from zero)."""
        if any(self.by_code.get(code, 0) < n for code, n in earlier.by_code.items()):
            return self
        by_code = {code: n - earlier.by_code.get(code, 0) for code, n in self.by_code.items()}
        before = dict(earlier.buckets)
        buckets = tuple((bound, n - before.get(bound, 0)) for bound, n in self.buckets)
        return DeploymentCounts({c: n for c, n in by_code.items() if n}, buckets)

    def plus(self, other: DeploymentCounts) -> DeploymentCounts:
        by_code = dict(self.by_code)
        for code, n in other.by_code.items():
            by_code[code] = by_code.get(code, 0) + n
        if not self.buckets:
            return DeploymentCounts(by_code, other.buckets)
        theirs = dict(other.buckets)
        return DeploymentCounts(by_code, tuple((b, n + theirs.get(b, 0))
                                               for b, n in self.buckets))


def histogram_quantile(q: float, buckets: tuple[tuple[float, int], ...]) -> float | None:
    """The ``q`` quantile of cumulative ``buckets`` (upper bound, count), interpolated
    within its bucket as Prometheus' ``histogram_quantile`` does; None without counts,
    inf past the largest finite bucket."""
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(bound):
                return math.inf
            inside = cumulative - below
            share = (rank - below) / inside if inside else 1.0
            return lower + (bound - lower) * share
        lower, below = bound, cumulative
    return math.inf


def parse_counts(metrics_text: str) -> dict[str, DeploymentCounts]:
    """Every deployment's counts in the gateway's ``GET /metrics`` text (answers given
    before a deployment was chosen, 401 or 404, belong to none and are left out)."""
    by_code: dict[str, dict[int, int]] = {}
    buckets: dict[str, list[tuple[float, int]]] = {}
    for line in metrics_text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match["name"] not in (REQUESTS, LATENCY_BUCKET):
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        deployment = labels.get("deployment")
        if not deployment:
            continue
        value = int(float(match["value"]))
        if match["name"] == REQUESTS:
            by_code.setdefault(deployment, {})[int(labels["code"])] = value
        else:
            buckets.setdefault(deployment, []).append((float(labels["le"]), value))
    return {name: DeploymentCounts(by_code.get(name, {}),
                                   tuple(sorted(buckets.get(name, []))))
            for name in {*by_code, *buckets}}


def parse_deployment_counts(metrics_text: str, deployment: str) -> DeploymentCounts:
    """``deployment``'s counts in the gateway's ``GET /metrics`` text."""
    return parse_counts(metrics_text).get(deployment, DeploymentCounts())


class HealthWatch:
    """Sums one deployment's answers over a window from scrapes of any replica."""

    def __init__(self, deployment: str) -> None:
        self.deployment = deployment
        self._baselines: dict[str, DeploymentCounts] = {}
        self.window = DeploymentCounts()

    def observe(self, replica: str, metrics_text: str) -> None:
        """Add what ``replica`` answered since its last scrape."""
        counts = parse_deployment_counts(metrics_text, self.deployment)
        earlier = self._baselines.get(replica)
        self._baselines[replica] = counts
        if earlier is not None:
            self.window = self.window.plus(counts.minus(earlier))

    def restart_window(self) -> None:
        """Start a new window; the baselines stay (each scrape counts once)."""
        self.window = DeploymentCounts()
