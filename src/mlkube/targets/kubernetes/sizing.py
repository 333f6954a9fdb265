"""How big a deployment's inference-server pods are, and what ``show`` says about it.

The deployment's own ``resources`` win (Kubernetes deployments may set them, as in Azure
ML). Otherwise its ``instance_type`` sizes each pod as the whole VM: requests equal to
limits (a Guaranteed pod, as the VM is the instance's alone on Azure), GPUs in both.
A node must then have that much allocatable, which a node of the same VM size never has
(the kubelet keeps some for itself): the rollout reports such a pod as unschedulable.
Without either, a small default fits any node.
"""

from __future__ import annotations

from mlkube.entities.deployment_settings import ResourceRequirementsSettings, ResourceSettings
from mlkube.entities.instance_types import InstanceResources, InstanceType
from mlkube.entities.online_deployment import OnlineDeployment

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
