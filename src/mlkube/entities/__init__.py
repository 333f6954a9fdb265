"""Spec entities (pydantic models) and their Azure ML v2 YAML form."""

from __future__ import annotations

from typing import Any

# Azure ML's names, as `from azure.ai.ml.entities import ...` has them; each module is
# imported on first use.
_LAZY = {
    "CodeConfiguration": "mlkube.entities.code_configuration",
    "Environment": "mlkube.entities.environment",
    "BuildContext": "mlkube.entities.environment",
    "Model": "mlkube.entities.model",
    "OnlineEndpoint": "mlkube.entities.online_endpoint",
    "ManagedOnlineEndpoint": "mlkube.entities.online_endpoint",
    "KubernetesOnlineEndpoint": "mlkube.entities.online_endpoint",
    "OnlineDeployment": "mlkube.entities.online_deployment",
    "ManagedOnlineDeployment": "mlkube.entities.online_deployment",
    "KubernetesOnlineDeployment": "mlkube.entities.online_deployment",
    "OnlineRequestSettings": "mlkube.entities.deployment_settings",
    "ProbeSettings": "mlkube.entities.deployment_settings",
    "DefaultScaleSettings": "mlkube.entities.deployment_settings",
    "TargetUtilizationScaleSettings": "mlkube.entities.deployment_settings",
    "ResourceRequirementsSettings": "mlkube.entities.deployment_settings",
    "ResourceSettings": "mlkube.entities.deployment_settings",
    "EndpointAuthKeys": "mlkube.entities.endpoint_auth",
    "EndpointAuthToken": "mlkube.entities.endpoint_auth",
    "Command": "mlkube.entities.job",
    "KubernetesCompute": "mlkube.entities.compute",
    "AmlCompute": "mlkube.entities.compute",
    # mlkube's own: progressive delivery settings for begin_create_or_update(rollout=...).
    "ProgressiveRollout": "mlkube.entities.rollout",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlkube.entities' has no attribute {name!r}")
