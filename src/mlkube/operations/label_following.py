"""Deployments that follow their model's label: which label, what it names now, and the
deployment pinned to one version of it.

A deployment with ``follow_model_label: true`` names its model by a label or alias
(``iris@champion``, ``azureml:iris@latest``, ``models:/iris@champion``, or
``Model(name="iris")`` for ``latest``). The registry watcher asks ``resolve_label`` on
every poll and rolls the deployment out again when the answer is another version than
``served_model``; a failed version is rolled back by applying ``pinned`` to the version
that served before, while the spec keeps naming the label.
"""

from __future__ import annotations

from typing import Any

from mlkube.entities.online_deployment import AssetReference, OnlineDeployment
from mlkube.errors import ValidationError
from mlkube.operations.deployment_preparation import registered_reference


def check_follows_label(deployment: OnlineDeployment) -> AssetReference:
    """The label ``deployment`` follows; a clear error when its model names none."""
    reference = registered_reference(deployment.model) if deployment.model is not None \
        else None
    if reference is None or reference.label is None:
        named = (f"model {reference}" if reference is not None
                 else f"model {deployment.model}" if isinstance(deployment.model, str)
                 else "a model given by its path")
        raise ValidationError(
            f"Deployment {deployment.name} sets follow_model_label, but names {named}, "
            "which is pinned to one version (or is not registered): there is no label to "
            "follow.",
            hint="Name the model by a label or alias (model: azureml:iris@champion, "
            "models:/iris@champion or iris@latest), or drop follow_model_label.")
    return reference


def resolve_label(models: Any, reference: AssetReference) -> str:
    """``name:version`` the label names in the registry now."""
    found = models.get(reference.name, label=reference.label)
    return f"{reference.name}:{found.version}"


def pinned(deployment: OnlineDeployment, version: str | None) -> OnlineDeployment:
    """``deployment`` serving ``version`` of its model (unchanged when ``version`` is None)."""
    if version is None:
        return deployment
    reference = registered_reference(deployment.model) if deployment.model is not None \
        else None
    if reference is None:
        return deployment
    return deployment.model_copy(update={"model": f"{reference.name}:{version}"})
