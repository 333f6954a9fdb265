"""The autoscaling policy: what count the load wants, and when that count acts."""

from __future__ import annotations

import pytest

from mlkube.entities.deployment_settings import TargetUtilizationScaleSettings
from mlkube.entities.elastic_scale import LoadSignal, ScaleDecider, elastic_scale
from mlkube.entities.online_deployment import load_online_deployment
from mlkube.errors import ValidationError


def _policy(**scale: object) -> ScaleDecider:
    policy = elastic_scale({
        "scale_settings": {"type": "target_utilization", **scale},
        "request_settings": {"max_concurrent_requests_per_instance": 2}})
    assert policy is not None
    return ScaleDecider(policy)


def _load(busy: float = 0.0, *, held: int = 0, idle_s: float = 0.0) -> LoadSignal:
    return LoadSignal(busy=busy, held=held, idle_s=idle_s)


def test_instances_are_added_only_once_the_load_held_for_the_scale_up_delay() -> None:
    decider = _policy(min_instances=1, max_instances=4, target_utilization_percentage=50,
                      scale_up_delay_s=2, scale_down_delay_s=5)
    # 3 in flight at 1 per instance (50 % of 2) wants 3 instances...
    assert decider.wanted(1, _load(3)) == 3
    assert decider.decide(0.0, 1, _load(3)) == 1
    assert decider.decide(1.0, 1, _load(3)) == 1
    assert decider.decide(2.0, 1, _load(3)) == 3  # ... after 2 s of it
    # A dip resets the clock: a burst that ends adds nothing.
    assert decider.decide(3.0, 3, _load(8)) == 3
    assert decider.decide(4.0, 3, _load(0.5)) == 3
    assert decider.decide(5.5, 3, _load(8)) == 3
    assert decider.decide(7.5, 3, _load(8)) == 4  # capped at max_instances


def test_instances_are_drained_to_min_after_the_scale_down_delay() -> None:
    decider = _policy(min_instances=2, max_instances=4, scale_up_delay_s=0,
                      scale_down_delay_s=3)
    assert decider.decide(0.0, 4, _load(0)) == 4
    assert decider.decide(2.9, 4, _load(0)) == 4
    assert decider.decide(3.0, 4, _load(0)) == 2


def test_a_held_request_wakes_one_instance_at_once_and_idleness_stops_the_last() -> None:
    decider = _policy(min_instances=0, max_instances=3, scale_to_zero_after_s=10,
                      scale_up_delay_s=30)
    assert decider.decide(0.0, 0, _load()) == 0
    assert decider.decide(0.1, 0, _load(held=1)) == 1  # no scale-up delay: someone waits
    assert decider.decide(5.0, 1, _load(idle_s=9.9)) == 1
    assert decider.decide(6.0, 1, _load(0.5, idle_s=10)) == 1  # still a request in flight
    assert decider.decide(7.0, 1, _load(idle_s=10)) == 0


def test_scale_to_zero_needs_min_instances_zero_and_azure_yaml_still_loads(tmp_path) -> None:
    with pytest.raises(ValidationError, match="set min_instances: 0"):
        TargetUtilizationScaleSettings(min_instances=1, scale_to_zero_after_s=5)
    spec = tmp_path / "blue.yml"
    spec.write_text("name: blue\nendpoint_name: iris\nmodel: azureml:iris:1\n"
                    "scale_settings:\n  type: target_utilization\n  min_instances: 1\n"
                    "  max_instances: 3\n  polling_interval: 10\n"
                    "  target_utilization_percentage: 60\n")
    loaded = load_online_deployment(spec)
    assert isinstance(loaded.scale_settings, TargetUtilizationScaleSettings)
    assert loaded.scale_settings.scale_to_zero_after_s is None
    spec.write_text("name: blue\nendpoint_name: iris\nmodel: azureml:iris:1\n"
                    "scale_settings:\n  type: target_utilization\n  min_instances: -1\n")
    with pytest.raises(ValidationError, match="min_instances"):
        load_online_deployment(spec)


def test_a_fixed_count_without_scale_to_zero_is_not_elastic() -> None:
    assert elastic_scale({"instance_count": 3}) is None
    fixed = elastic_scale({"instance_count": 3,
                           "scale_settings": {"type": "default", "scale_to_zero_after_s": 60}})
    assert fixed is not None and (fixed.min_instances, fixed.max_instances) == (3, 3)
    assert fixed.scale_to_zero_after_s == 60
