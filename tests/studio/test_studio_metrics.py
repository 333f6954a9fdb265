"""The live charts' figures: requests/s, error rate and p50/p99 from two scrapes of a
real gateway's metrics text (``GatewayMetrics.render``, as ``GET /metrics`` serves it)."""

from __future__ import annotations

import pytest

from mlkube.gateway.metrics import GatewayMetrics
from mlkube.studio.metrics import parse_gateway_metrics, quantile, rates


def scrape(metrics: GatewayMetrics, at: float):  # type: ignore[no-untyped-def]
    return parse_gateway_metrics(metrics.render(in_flight=[], config_digest="d"), at=at)


def test_rates_per_deployment_between_two_scrapes() -> None:
    metrics = GatewayMetrics()
    metrics.observe_request("", 401, 0.001)  # refused before routing: not a deployment's
    first = scrape(metrics, at=100.0)
    for _ in range(90):
        metrics.observe_request("blue", 200, 0.004)
    for _ in range(10):
        metrics.observe_request("blue", 504, 2.0)
    for _ in range(20):
        metrics.observe_request("green", 200, 0.02)
    figures = rates(first, scrape(metrics, at=110.0))
    assert set(figures) == {"blue", "green"}
    blue = figures["blue"]
    assert blue["rps"] == pytest.approx(10.0)
    assert blue["error_rate"] == pytest.approx(0.10)
    # 90 of 100 in the (2.5 ms, 5 ms] bucket: the median interpolates inside it.
    assert 2.5 < (blue["p50_ms"] or 0) <= 5.0
    assert 1000 < (blue["p99_ms"] or 0) <= 2500
    assert figures["green"]["rps"] == pytest.approx(2.0)
    assert figures["green"]["error_rate"] == 0.0


def test_a_restarted_gateway_counts_from_zero_not_negative() -> None:
    before = GatewayMetrics()
    for _ in range(50):
        before.observe_request("blue", 200, 0.004)
    after = GatewayMetrics()
    for _ in range(5):
        after.observe_request("blue", 200, 0.004)
    figures = rates(scrape(before, at=0.0), scrape(after, at=5.0))
    assert figures["blue"]["rps"] == pytest.approx(1.0)


def test_quantile_of_no_requests_is_none() -> None:
    assert quantile(0.5, []) is None
    assert quantile(0.99, [(0.1, 0.0), (float("inf"), 0.0)]) is None
