"""The rules of a progressive rollout that need no endpoint: how a step splits the
traffic, how the gateway's own metrics become a window's error rate and p99, and when a
threshold is crossed; and the settings' checks, which fail before any traffic moves."""

from __future__ import annotations

import math

import pytest

from mlkube.entities.rollout import ProgressiveRollout, parse_duration_seconds, parse_traffic_steps
from mlkube.errors import ValidationError
from mlkube.gateway.metrics import GatewayMetrics
from mlkube.operations.deployment_health import HealthWatch, parse_deployment_counts
from mlkube.operations.progressive_rollout import breach, step_traffic


def _scrape(metrics: GatewayMetrics) -> str:
    return metrics.render(in_flight=[], config_digest="d")


def test_a_step_gives_the_deployment_its_share_and_the_others_the_rest_in_proportion():
    assert step_traffic({"blue": 100}, "green", 10) == {"green": 10, "blue": 90}
    assert step_traffic({"blue": 60, "red": 40}, "green", 50) == {
        "green": 50, "blue": 30, "red": 20}
    split = step_traffic({"a": 34, "b": 33, "c": 33}, "green", 10)
    assert sum(split.values()) == 100 and split["green"] == 10
    assert step_traffic({"blue": 100}, "green", 100) == {"green": 100}
    # A deployment that already had a share is moved to the step's share, not added to.
    assert step_traffic({"blue": 80, "green": 20}, "green", 50) == {"green": 50, "blue": 50}


def test_the_window_counts_only_the_deployments_answers_since_the_baseline():
    metrics = GatewayMetrics()
    for _ in range(5):
        metrics.observe_request("green", 200, 0.004)
    metrics.observe_request("blue", 500, 0.004)
    watch = HealthWatch("green")
    watch.observe("pod-a", _scrape(metrics))  # the baseline: nothing counted yet
    assert watch.window.answers == 0
    for _ in range(8):
        metrics.observe_request("green", 200, 0.02)
    metrics.observe_request("green", 500, 0.02)
    metrics.observe_request("green", 424, 0.02)
    metrics.observe_request("green", 400, 0.02)  # the client's own bad request
    watch.observe("pod-a", _scrape(metrics))
    assert watch.window.answers == 11
    assert watch.window.failures == 2
    assert watch.window.error_rate == pytest.approx(2 / 11)
    # All answers took 20 ms: the p99 lies in the (10 ms, 25 ms] bucket.
    assert 10 < (watch.window.quantile_ms(0.99) or 0) <= 25


def test_a_replica_seen_first_only_sets_its_baseline_and_a_restart_counts_from_zero():
    watch = HealthWatch("green")
    first, second = GatewayMetrics(), GatewayMetrics()
    for _ in range(3):
        first.observe_request("green", 200, 0.001)
        second.observe_request("green", 200, 0.001)
    watch.observe("pod-a", _scrape(first))
    watch.observe("pod-b", _scrape(second))
    assert watch.window.answers == 0
    second.observe_request("green", 503, 0.001)
    watch.observe("pod-b", _scrape(second))
    restarted = GatewayMetrics()  # pod-a restarted: its counters went back
    restarted.observe_request("green", 200, 0.001)
    watch.observe("pod-a", _scrape(restarted))
    assert watch.window.by_code == {503: 1, 200: 1}


def test_a_threshold_is_crossed_with_the_value_seen_and_not_before_enough_answers():
    rollout = ProgressiveRollout(max_error_rate=0.1, max_p99_ms=100, min_requests=5)
    slow, failing = GatewayMetrics(), GatewayMetrics()
    for _ in range(4):
        failing.observe_request("green", 500, 0.001)
    few = parse_deployment_counts(_scrape(failing), "green")
    assert breach(few, rollout) is None  # 4 answers: fewer than min_requests
    failing.observe_request("green", 200, 0.001)
    reason = breach(parse_deployment_counts(_scrape(failing), "green"), rollout)
    assert reason is not None
    assert "error rate 0.800 (4 of 5 answers failed)" in reason and "max_error_rate 0.1" in reason
    for _ in range(10):
        slow.observe_request("green", 200, 0.4)
    reason = breach(parse_deployment_counts(_scrape(slow), "green"), rollout)
    assert reason is not None and "p99 latency" in reason and "max_p99_ms 100" in reason
    for _ in range(10):
        slow.observe_request("green", 200, 60.0)
    counts = parse_deployment_counts(_scrape(slow), "green")
    assert counts.quantile_ms(0.99) == math.inf
    assert "above 10 s" in (breach(counts, rollout) or "")


@pytest.mark.parametrize(("settings", "rule"), [
    ({"traffic_steps": [10, 50]}, "must end at 100"),
    ({"traffic_steps": [50, 10, 100]}, "must rise"),
    ({"traffic_steps": [0, 100]}, "not a percentage"),
    ({"traffic_steps": []}, "empty"),
    ({"max_error_rate": 1.5}, "max_error_rate"),
    ({"max_p99_ms": 0}, "max_p99_ms"),
    ({"step_pause_s": -1}, "step_pause_s"),
])
def test_settings_out_of_range_are_refused_naming_the_field(settings, rule):
    with pytest.raises(ValidationError) as failure:
        ProgressiveRollout(**settings)
    assert rule in str(failure.value)


def test_cli_spellings_of_steps_and_pauses():
    assert parse_traffic_steps("10, 50%,100") == [10, 50, 100]
    assert parse_duration_seconds("30s", option="--step-pause") == 30
    assert parse_duration_seconds("500ms", option="--step-pause") == 0.5
    assert parse_duration_seconds("2m", option="--step-pause") == 120
    assert parse_duration_seconds("1.5", option="--step-pause") == 1.5
    with pytest.raises(ValidationError, match="--traffic-steps 'ten' is not a list"):
        parse_traffic_steps("ten")
    with pytest.raises(ValidationError, match="--step-pause 'soon' is not a duration"):
        parse_duration_seconds("soon", option="--step-pause")
