"""mlkube: deploy MLflow models as authenticated online endpoints.

Locally as a process, in Docker, or on any Kubernetes cluster, from the same spec, with
the same inference server and request formats. The public API is shaped like Azure ML
v2's SDK so scripts port by changing imports:
``from azure.ai.ml import MLClient, command, Input`` becomes ``from mlkube import ...``,
and ``azure.ai.ml.entities`` names are here too.

Names are imported on first use: the inference server imports ``mlkube.server`` inside a
model's environment, where the control plane (pydantic, mlflow tracking) may be absent.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_ENTITIES = "mlkube.entities"
_LAZY: dict[str, str] = {
    # azure.ai.ml
    "MLClient": "mlkube.operations.client",
    "DefaultAzureCredential": "mlkube.operations.client",
    "command": "mlkube.entities.job",
    "Input": "mlkube.entities.input",
    "Output": "mlkube.entities.input",
    "load_online_endpoint": "mlkube.entities.online_endpoint",
    "load_online_deployment": "mlkube.entities.online_deployment",
    # azure.ai.ml.entities
    "Command": "mlkube.entities.job",
    "Model": _ENTITIES,
    "Environment": _ENTITIES,
    "BuildContext": _ENTITIES,
    "CodeConfiguration": _ENTITIES,
    "OnlineEndpoint": _ENTITIES,
    "ManagedOnlineEndpoint": _ENTITIES,
    "KubernetesOnlineEndpoint": _ENTITIES,
    "OnlineDeployment": _ENTITIES,
    "ManagedOnlineDeployment": _ENTITIES,
    "KubernetesOnlineDeployment": _ENTITIES,
    "OnlineRequestSettings": _ENTITIES,
    "ProbeSettings": _ENTITIES,
    "DefaultScaleSettings": _ENTITIES,
    "TargetUtilizationScaleSettings": _ENTITIES,
    "ResourceRequirementsSettings": _ENTITIES,
    "ResourceSettings": _ENTITIES,
    "EndpointAuthKeys": _ENTITIES,
    "EndpointAuthToken": _ENTITIES,
    "KubernetesCompute": "mlkube.entities.compute",
    "AmlCompute": "mlkube.entities.compute",
    # azure.ai.ml.constants
    "AssetTypes": "mlkube.constants",
    # azure.core.exceptions / azure.ai.ml.exceptions
    "MlkubeError": "mlkube.errors",
    "ValidationError": "mlkube.errors",
    "ResourceNotFoundError": "mlkube.errors",
    "LocalEndpointNotFoundError": "mlkube.errors",
    "RequiredLocalArtifactsNotFoundError": "mlkube.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlkube' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
