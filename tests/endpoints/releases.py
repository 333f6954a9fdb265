"""Model releases for rollout tests: versions of one registered model, and its alias."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from mlkube.entities.model import Model
from mlkube.operations.client import MLClient


def register_releases(client: MLClient, name: str, roots: list[Path], *,
                      champion: int = 0) -> tuple[MlflowClient, list[str]]:
    """Register each model folder's ``model`` as the next version of ``name`` and point
    the alias ``champion`` at ``roots[champion]``'s version; plain MLflow moves it later."""
    versions = [str(client.models.create_or_update(Model(
        name=name, path=str(root / "model"), type="mlflow_model")).version) for root in roots]
    registry = MlflowClient(tracking_uri=client.tracking_uri)
    registry.set_registered_model_alias(name, "champion", versions[champion])
    return registry, versions
