"""How many instances a deployment should run now: the autoscaling policy, kept pure.

A deployment is *elastic* when its ``scale_settings`` are ``target_utilization`` or when
they scale it to zero when idle (``min_instances: 0``, or ``default`` with
``scale_to_zero_after_s``). ``ElasticScale`` is that policy in plain numbers, and
``ScaleDecider`` turns what the endpoint's gateway sees (requests in flight or queued,
requests held while the deployment is at zero, seconds since the last request) into a
number of instances, with the hysteresis the settings ask for:

- *utilization* is in-flight requests per serving instance against
  ``max_concurrent_requests_per_instance``; the wanted count is the fewest instances
  that keep it at or under ``target_utilization_percentage``, within min and max;
- a wanted count above the current one acts once it has held for ``scale_up_delay_s``,
  one below once it has held for ``scale_down_delay_s`` (a burst does not add
  instances that a pause then drains, and a pause does not drain the ones a burst needs);
- a held request at zero instances wants one instance at once (no delay: someone waits);
- no request for ``scale_to_zero_after_s`` (and none in flight) wants zero.

Whoever acts on the number (the local autoscaler beside the supervisor; the gateway on
Kubernetes for zero and back) calls ``decide`` every tick; nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlkube import request_defaults
from mlkube.entities.deployment_settings import (
    DefaultScaleSettings,
    TargetUtilizationScaleSettings,
)
from mlkube.entities.online_deployment import OnlineDeployment


@dataclass(frozen=True)
class ElasticScale:
    """A deployment's scaling policy, in the numbers the deciders use."""

    #: The fewest instances while awake (at least 1) and the most.
    min_instances: int
    max_instances: int
    #: Whether load moves the count between min and max (target_utilization).
    autoscales: bool
    #: Seconds without a request before every instance stops; None: never.
    scale_to_zero_after_s: float | None
    #: Requests in flight per instance the policy aims at (target % of the concurrency).
    target_in_flight: float
    polling_interval_s: float = 1.0
    scale_up_delay_s: float = 0.0
    scale_down_delay_s: float = 60.0
    #: Requests the gateway may hold while the deployment starts from zero: what its
    #: instances could take at once when all are up.
    held_limit: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "min_instances": self.min_instances, "max_instances": self.max_instances,
            "autoscales": self.autoscales, "scale_to_zero_after_s": self.scale_to_zero_after_s,
            "target_in_flight": self.target_in_flight,
            "polling_interval_s": self.polling_interval_s,
            "scale_up_delay_s": self.scale_up_delay_s,
            "scale_down_delay_s": self.scale_down_delay_s,
        }


def elastic_scale(spec: dict[str, Any]) -> ElasticScale | None:
    """The policy of a stored deployment spec, or None when it runs a fixed count."""
    raw = spec.get("scale_settings") or {}
    concurrency = int((spec.get("request_settings") or {}).get(
        "max_concurrent_requests_per_instance",
        request_defaults.MAX_CONCURRENT_REQUESTS_PER_INSTANCE))
    count = int(spec.get("instance_count") or 1)
    kind = str(raw.get("type") or "default")
    if kind == "target_utilization":
        scale = TargetUtilizationScaleSettings.model_validate(raw)
        return ElasticScale(
            min_instances=max(1, scale.min_instances), max_instances=scale.max_instances,
            autoscales=True, scale_to_zero_after_s=scale.effective_scale_to_zero_after_s,
            target_in_flight=concurrency * scale.target_utilization_percentage / 100,
            polling_interval_s=float(scale.polling_interval),
            scale_up_delay_s=scale.scale_up_delay_s,
            scale_down_delay_s=scale.scale_down_delay_s,
            held_limit=concurrency * scale.max_instances)
    default = DefaultScaleSettings.model_validate(raw)
    if default.scale_to_zero_after_s is None:
        return None
    return ElasticScale(min_instances=count, max_instances=count, autoscales=False,
                        scale_to_zero_after_s=float(default.scale_to_zero_after_s),
                        target_in_flight=float(concurrency), scale_down_delay_s=0.0,
                        held_limit=concurrency * count)


def initial_instances(deployment: OnlineDeployment) -> tuple[int, int]:
    """(instances a new version starts with, instances it may ever run): an elastic
    deployment starts with ``instance_count`` within its min and max (at least one, so
    the rollout proves the version serves) and may run up to ``max_instances``."""
    scale = elastic_scale(deployment.stored_spec())
    if scale is None:
        return deployment.instance_count, deployment.instance_count
    initial = min(scale.max_instances, max(scale.min_instances, deployment.instance_count))
    return initial, scale.max_instances


def report_scaling(deployment: OnlineDeployment, report: Callable[[str], None]) -> None:
    """Say, when a deployment is applied, how it will scale (on every target)."""
    scale = elastic_scale(deployment.stored_spec())
    if scale is None:
        return
    zero = (f"; to zero after {scale.scale_to_zero_after_s:g}s without a request"
            if scale.scale_to_zero_after_s is not None else "")
    if scale.autoscales:
        report(f"autoscaling {scale.min_instances}-{scale.max_instances} instances on "
               f"requests in flight (target {scale.target_in_flight:g} per instance, "
               f"up after {scale.scale_up_delay_s:g}s, down after "
               f"{scale.scale_down_delay_s:g}s){zero}")
    else:
        report(f"{scale.min_instances} instance(s){zero}")


@dataclass(frozen=True)
class LoadSignal:
    """What the gateway reports for one deployment at one moment."""

    #: Requests in flight or queued for a slot (a mean over the last polling interval).
    busy: float
    #: Requests held because the deployment has no instance (it is at zero).
    held: int
    #: Seconds since the last request reached the deployment.
    idle_s: float


class ScaleDecider:
    """The instance count ``ElasticScale`` wants, remembered across ticks for hysteresis."""

    def __init__(self, scale: ElasticScale) -> None:
        self.scale = scale
        self._above_since: float | None = None
        self._below_since: float | None = None

    def wanted(self, current: int, signal: LoadSignal) -> int:
        """The count the load alone asks for (no delays applied)."""
        scale = self.scale
        if current == 0:
            return 1 if signal.held or signal.busy else 0
        if (scale.scale_to_zero_after_s is not None and signal.busy == 0
                and signal.held == 0 and signal.idle_s >= scale.scale_to_zero_after_s):
            return 0
        if not scale.autoscales:
            return scale.min_instances
        needed = math.ceil(signal.busy / scale.target_in_flight) if signal.busy else 0
        return min(scale.max_instances, max(scale.min_instances, needed))

    def decide(self, now: float, current: int, signal: LoadSignal) -> int:
        """The count to run from ``now`` on: ``current`` until a change has held long
        enough, except a start from zero (someone waits) and an idle stop (the idle time
        is its own delay)."""
        wanted = self.wanted(current, signal)
        if wanted == current:
            self._above_since = self._below_since = None
            return current
        if current == 0 or wanted == 0:
            self._above_since = self._below_since = None
            return wanted
        if wanted > current:
            self._below_since = None
            self._above_since = now if self._above_since is None else self._above_since
            if now - self._above_since >= self.scale.scale_up_delay_s:
                self._above_since = None
                return wanted
            return current
        self._above_since = None
        self._below_since = now if self._below_since is None else self._below_since
        if now - self._below_since >= self.scale.scale_down_delay_s:
            self._below_since = None
            return wanted
        return current
