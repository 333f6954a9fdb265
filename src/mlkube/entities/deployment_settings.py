"""The settings blocks an online deployment carries: requests, probes, scaling, resources.

Shaped and defaulted as in Azure ML v2 (``OnlineRequestSettings``, ``ProbeSettings``,
``DefaultScaleSettings``, ``TargetUtilizationScaleSettings``,
``ResourceRequirementsSettings``), so their YAML blocks and constructor calls port
unchanged. Every target reads them: the gateway enforces the request settings, the local
and docker targets probe with the probe settings, and the Kubernetes renderer turns all of
them into pod spec fields.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from mlkube import request_defaults
from mlkube.entities.sdk_resource import SdkResource, rule_error

# Kubernetes' resource.Quantity syntax: a decimal number with an optional SI or binary suffix.
_QUANTITY = re.compile(r"^(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|"
                       r"n|u|m|k|M|G|T|P|E|[eE][-+]?[0-9]+)?$")
_SUFFIX_FACTORS: dict[str, Decimal] = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}


def quantity_value(quantity: str) -> Decimal:
    """The number a Kubernetes quantity ("500m", "2Gi", "1e3") stands for."""
    match = _QUANTITY.match(quantity)
    if match is None:
        raise ValueError(quantity)
    suffix = match.group("suffix") or ""
    number = Decimal(match.group("number"))
    if suffix[:1] in ("e", "E"):
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _SUFFIX_FACTORS[suffix]


def _as_quantity(value: Any) -> Any:
    # YAML turns `cpu: 1` into an int and `cpu: 0.5` into a float; Kubernetes wants text.
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return format(Decimal(str(value)).normalize(), "f")
    return value


def _check_quantity(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        quantity_value(value)
    except (ValueError, InvalidOperation):
        raise rule_error(
            f"{value!r} is not a Kubernetes quantity (examples: cpu '500m' or '2', "
            "memory '512Mi' or '2Gi', nvidia.com/gpu '1')"
        ) from None
    return value


Quantity = Annotated[str, BeforeValidator(_as_quantity)]

#: Idle seconds before a deployment with ``min_instances: 0`` stops its last instance,
#: when ``scale_to_zero_after_s`` is not given (Knative's default is far shorter; five
#: minutes keeps a model warm through a pause in a user's session).
DEFAULT_SCALE_TO_ZERO_AFTER_S = 300


class OnlineRequestSettings(SdkResource):
    """How requests to a deployment are limited (Azure ML's defaults, except 8 requests in
    flight per instance when unset: see ``mlkube.request_defaults``)."""

    request_timeout_ms: int = Field(request_defaults.REQUEST_TIMEOUT_MS, ge=1, le=3_600_000)
    max_concurrent_requests_per_instance: int = Field(
        request_defaults.MAX_CONCURRENT_REQUESTS_PER_INSTANCE, ge=1, le=1000)
    max_queue_wait_ms: int = Field(request_defaults.MAX_QUEUE_WAIT_MS, ge=0, le=3_600_000)


class ProbeSettings(SdkResource):
    """An HTTP health probe (Azure ML defaults; times in seconds)."""

    initial_delay: int = Field(10, ge=0, le=3600)
    period: int = Field(10, ge=1, le=3600)
    timeout: int = Field(2, ge=1, le=3600)
    failure_threshold: int = Field(30, ge=1, le=1000)
    success_threshold: int = Field(1, ge=1, le=1000)

    @property
    def budget_seconds(self) -> float:
        """How long this probe gives a starting instance: ``initial_delay + period x
        failure_threshold`` (the time Kubernetes waits before it gives up)."""
        return float(self.initial_delay + self.period * self.failure_threshold)


class DefaultScaleSettings(SdkResource):
    """A fixed number of instances: the deployment's ``instance_count``.

    mlkube adds ``scale_to_zero_after_s``: with it, the instances stop after that many
    seconds without a request, and the first request after that starts them again (the
    gateway holds it meanwhile). None (Azure's behaviour) keeps them running.
    """

    type: Literal["default"] = "default"
    scale_to_zero_after_s: int | None = Field(None, ge=1, le=7 * 24 * 3600)


class TargetUtilizationScaleSettings(SdkResource):
    """Scale between ``min_instances`` and ``max_instances`` to keep utilization near a
    target.

    Azure's fields keep their meaning (``polling_interval`` in seconds). Utilization is
    the requests in flight per instance, as the endpoint's gateway counts them, against
    ``request_settings.max_concurrent_requests_per_instance`` (on Kubernetes the HPA
    keeps measuring CPU; the gateway publishes the in-flight signal for a metrics
    adapter). mlkube's additions, all optional: ``scale_up_delay_s`` and
    ``scale_down_delay_s``, how long the load must stay above or below the target
    before instances are added or drained; ``min_instances: 0`` with
    ``scale_to_zero_after_s``, how long without a request before the last instance
    stops (the next request is held by the gateway while one starts).
    """

    type: Literal["target_utilization"] = "target_utilization"
    min_instances: int = Field(1, ge=0, le=1000)
    max_instances: int = Field(1, ge=1, le=1000)
    polling_interval: int = Field(1, ge=1, le=1800)
    target_utilization_percentage: int = Field(70, ge=1, le=100)
    scale_up_delay_s: float = Field(0.0, ge=0, le=3600)
    scale_down_delay_s: float = Field(60.0, ge=0, le=3600)
    scale_to_zero_after_s: int | None = Field(None, ge=1, le=7 * 24 * 3600)

    @model_validator(mode="after")
    def _min_not_above_max(self) -> TargetUtilizationScaleSettings:
        if self.min_instances > self.max_instances:
            raise rule_error(
                f"min_instances ({self.min_instances}) is above max_instances "
                f"({self.max_instances}); raise max_instances or lower min_instances"
            )
        if self.scale_to_zero_after_s is not None and self.min_instances != 0:
            raise rule_error(
                f"scale_to_zero_after_s is set but min_instances is {self.min_instances}; "
                "set min_instances: 0 to let the deployment stop when idle, or drop "
                "scale_to_zero_after_s"
            )
        return self

    @property
    def effective_scale_to_zero_after_s(self) -> int | None:
        """Seconds without a request before the last instance stops (None: never)."""
        if self.min_instances != 0:
            return None
        return self.scale_to_zero_after_s or DEFAULT_SCALE_TO_ZERO_AFTER_S


def _scale_type(value: Any) -> Any:
    # Azure's YAML and REST API spell the type several ways ("Default", "TargetUtilization").
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        spelled = value["type"].replace("-", "_").lower()
        value = {**value, "type": {"targetutilization": "target_utilization"}.get(spelled, spelled)}
    return value


ScaleSettings = Annotated[
    DefaultScaleSettings | TargetUtilizationScaleSettings,
    BeforeValidator(_scale_type),
    Field(discriminator="type"),
]


class ResourceSettings(SdkResource):
    """cpu, memory and ``nvidia.com/gpu`` quantities (``gpu=`` in Python, as in Azure ML)."""

    cpu: Quantity | None = None
    memory: Quantity | None = None
    gpu: Quantity | None = Field(None, alias="nvidia.com/gpu")

    @field_validator("cpu", "memory", "gpu")
    @classmethod
    def _valid_quantity(cls, value: str | None) -> str | None:
        return _check_quantity(value)

    @field_validator("gpu")
    @classmethod
    def _whole_gpus(cls, value: str | None) -> str | None:
        if value is not None and quantity_value(value) != quantity_value(value).to_integral():
            raise rule_error(f"{value!r} is not a whole number of GPUs; GPUs are not shared")
        return value

    def as_kubernetes(self) -> dict[str, str]:
        """The quantities under their Kubernetes resource names, unset ones left out."""
        named = {"cpu": self.cpu, "memory": self.memory, "nvidia.com/gpu": self.gpu}
        return {name: value for name, value in named.items() if value is not None}


class ResourceRequirementsSettings(SdkResource):
    """Kubernetes ``requests`` and ``limits`` of a deployment's inference-server container."""

    requests: ResourceSettings | None = None
    limits: ResourceSettings | None = None

    @model_validator(mode="after")
    def _requests_within_limits(self) -> ResourceRequirementsSettings:
        if self.requests is None or self.limits is None:
            return self
        requests, limits = self.requests.as_kubernetes(), self.limits.as_kubernetes()
        for name in sorted(set(requests) & set(limits)):
            if quantity_value(requests[name]) > quantity_value(limits[name]):
                raise rule_error(
                    f"requests.{name} ({requests[name]}) is above limits.{name} "
                    f"({limits[name]}); Kubernetes rejects such a pod: lower the request "
                    "or raise the limit"
                )
        if "nvidia.com/gpu" in requests and "nvidia.com/gpu" in limits and (
            quantity_value(requests["nvidia.com/gpu"]) != quantity_value(limits["nvidia.com/gpu"])
        ):
            raise rule_error("requests and limits of nvidia.com/gpu differ; Kubernetes needs "
                             "them equal (GPUs cannot be overcommitted): give one value")
        return self
