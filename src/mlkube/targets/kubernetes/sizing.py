"""How big a deployment's inference-server pods and a command job's pod are, and what
``show`` says about it.

The deployment's own ``resources`` win (Kubernetes deployments may set them, as in Azure
ML). Otherwise its ``instance_type`` sizes each pod as the whole VM: requests equal to
limits (a Guaranteed pod, as the VM is the instance's alone on Azure), GPUs in both.
A node must then have that much allocatable, which a node of the same VM size never has
(the kubelet keeps some for itself): the rollout reports such a pod as unschedulable.
Without either, a small default fits any node.

A command job's pod is sized the same way from its Azure ML ``resources``
(``instance_type``, or Kubernetes ``requests`` / ``limits``), else the same default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlkube.entities.deployment_settings import ResourceRequirementsSettings, ResourceSettings
from mlkube.entities.instance_types import InstanceResources, InstanceType, instance_type
from mlkube.entities.online_deployment import OnlineDeployment
from mlkube.errors import ValidationError

#: Used when a deployment gives neither ``resources`` nor ``instance_type``: a small CPU
#: share, room for a typical scikit-learn / LightGBM model, and no CPU limit (throttling
#: only adds latency).
DEFAULT_RESOURCES = ResourceRequirementsSettings(
    requests=ResourceSettings(cpu="100m", memory="1Gi"),
    limits=ResourceSettings(memory="2Gi"),
)


def pod_resources(deployment: OnlineDeployment) -> ResourceRequirementsSettings:
    """The requests and limits of the deployment's inference-server container."""
    explicit = getattr(deployment, "resources", None)
    if explicit is not None:
        return explicit
    size = deployment.instance_size
    return instance_type_resources(size) if size is not None else DEFAULT_RESOURCES


def instance_type_resources(size: InstanceType) -> ResourceRequirementsSettings:
    """A VM size as Kubernetes requests and limits."""
    gpu = str(size.gpus) if size.gpus else None
    return ResourceRequirementsSettings(
        requests=ResourceSettings(cpu=size.cpu_request or size.cpu, memory=size.memory,
                                  gpu=gpu),
        limits=ResourceSettings(cpu=size.cpu, memory=size.memory, gpu=gpu))


def with_instance_resources(deployment: OnlineDeployment) -> OnlineDeployment:
    """The deployment with ``instance_resources`` saying what its instance type became
    on the cluster (None when it names none)."""
    size = deployment.instance_size
    if size is None:  # an update may have dropped it: nothing stale is kept
        return deployment.model_copy(update={"instance_resources": None})
    if getattr(deployment, "resources", None) is not None:
        applied = "not used for sizing: the deployment's resources set the pods' requests " \
                  "and limits"
    else:
        sized = instance_type_resources(size)
        requests = sized.requests.as_kubernetes() if sized.requests else {}
        limits = sized.limits.as_kubernetes() if sized.limits else {}
        applied = (f"pod requests {_quantities(requests)}, limits {_quantities(limits)}")
    return deployment.model_copy(update={
        "instance_resources": InstanceResources.of(size, applied=applied)})


def _quantities(values: dict[str, str]) -> str:
    return ", ".join(f"{name} {value}" for name, value in values.items())


#: The keys of a command job's ``resources`` that mean something on Kubernetes.
JOB_RESOURCE_KEYS = ("instance_type", "instance_count", "requests", "limits")


def job_pod_resources(resources: Mapping[str, Any] | None) -> ResourceRequirementsSettings:
    """The requests and limits of a command job's pod from its ``resources``: Kubernetes
    ``requests`` / ``limits`` win, else ``instance_type`` (an Azure VM size, the whole VM
    as for deployments), else ``DEFAULT_RESOURCES``. One pod per job: ``instance_count``
    may only be 1."""
    given = dict(resources or {})
    unknown = sorted(set(given) - set(JOB_RESOURCE_KEYS))
    if unknown:
        raise ValidationError(
            f"The job's resources.{unknown[0]} has no meaning for a job on Kubernetes.",
            hint=f"Give resources as {', '.join(JOB_RESOURCE_KEYS)} (e.g. instance_type: "
                 "Standard_DS3_v2, or requests: {cpu: '1', memory: 4Gi}), or remove it.")
    count = given.get("instance_count", 1)
    if count != 1:
        raise ValidationError(
            f"The job asks for instance_count {count}; a command job on Kubernetes runs as "
            "one pod.",
            hint="Set resources.instance_count to 1 (distributed training is not supported).")
    if "requests" in given or "limits" in given:
        return ResourceRequirementsSettings.from_dict(
            {k: given[k] for k in ("requests", "limits") if k in given},
            source="the job's resources")
    if given.get("instance_type"):
        return instance_type_resources(instance_type(str(given["instance_type"])))
    return DEFAULT_RESOURCES


def container_resources(settings: ResourceRequirementsSettings) -> dict[str, Any]:
    """``settings`` as a container's ``resources`` field (GPUs in limits, as Kubernetes
    needs extended resources there)."""
    requests = settings.requests.as_kubernetes() if settings.requests else {}
    limits = settings.limits.as_kubernetes() if settings.limits else {}
    if "nvidia.com/gpu" in requests and "nvidia.com/gpu" not in limits:
        limits["nvidia.com/gpu"] = requests["nvidia.com/gpu"]
    result: dict[str, Any] = {}
    if requests:
        result["requests"] = requests
    if limits:
        result["limits"] = limits
    return result
