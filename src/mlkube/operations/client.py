"""``MLClient``: the SDK's entry point, shaped like Azure ML v2's.

A script written for Azure ML ports by changing its imports::

    from mlkube import MLClient, DefaultAzureCredential
    ml_client = MLClient(DefaultAzureCredential(), subscription_id, resource_group, workspace)

The Azure arguments are accepted (the credential is ignored; the workspace name names a
workspace the CLI finds with ``--workspace-name``, see ``workspace.location``). Native
forms: ``MLClient()`` (the embedded ``./.mlkube`` or ``$MLKUBE_WORKSPACE``),
``MLClient(workspace="path")``,
``MLClient(tracking_uri="postgresql://...", artifact_location=...)``.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlkube.errors import RequiredLocalArtifactsNotFoundError, ValidationError
from mlkube.operations.computes import ComputeOperations
from mlkube.operations.jobs import JobOperations
from mlkube.operations.models import ModelOperations
from mlkube.operations.poller import LROPoller
from mlkube.workspace.workspace import Workspace

if TYPE_CHECKING:
    # Imported when first used: each pulls in heavier parts (targets, environments).
    from mlkube.operations.environments import EnvironmentOperations
    from mlkube.operations.online_deployments import OnlineDeploymentOperations
    from mlkube.operations.online_endpoints import OnlineEndpointOperations

CONFIG_FILE = "config.json"


class DefaultAzureCredential:
    """Stands in for ``azure.identity.DefaultAzureCredential``: mlkube needs no Azure login,
    so ported scripts construct it and pass it on unchanged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise NotImplementedError("mlkube does not use Azure credentials.")


class MLClient:
    """The workspace's operation groups: ``models``, ``environments``, ``jobs``,
    ``computes``, ``online_endpoints`` and ``online_deployments``."""

    def __init__(
        self,
        credential: Any = None,
        subscription_id: str | None = None,
        resource_group_name: str | None = None,
        workspace_name: str | None = None,
        *,
        workspace: str | os.PathLike[str] | None = None,
        tracking_uri: str | None = None,
        artifact_location: str | None = None,
        **azure_only: Any,
    ) -> None:
        # credential, subscription_id, resource_group_name: Azure's; nothing to do here.
        self._workspace = Workspace.open(
            workspace=workspace, tracking_uri=tracking_uri,
            artifact_location=artifact_location, workspace_name=workspace_name)
        self.subscription_id = subscription_id
        self.resource_group_name = resource_group_name
        location = self._workspace.location
        self.workspace_name = location.name or workspace_name or self._workspace.root.name
        if location.name and not location.root.exists():
            # Said once, when the workspace is new: where it is, and how the CLI finds it.
            print(f"mlkube: new workspace {location.name!r} in {location.root}; the CLI "
                  f"finds it with `mlkube --workspace-name {location.name} ...` (or "
                  f"MLKUBE_WORKSPACE_NAME={location.name})", file=sys.stderr, flush=True)

    @classmethod
    def from_config(cls, credential: Any = None, *, path: str | os.PathLike[str] | None = None,
                    file_name: str | None = None, **kwargs: Any) -> MLClient:
        """Read Azure ML's ``config.json`` (``subscription_id``, ``resource_group``,
        ``workspace_name``; mlkube also reads ``workspace``, ``tracking_uri`` and
        ``artifact_location``) from ``path`` or the current folder and its parents."""
        found = _find_config(Path(path) if path else Path.cwd(), file_name or CONFIG_FILE)
        try:
            config = json.loads(found.read_text())
        except json.JSONDecodeError as error:
            raise ValidationError(
                f"{found} is not valid JSON: {error}.",
                hint="Fix the file, or construct MLClient(...) directly.",
            ) from None
        workspace = config.get("workspace")
        if workspace and not Path(workspace).is_absolute():
            workspace = str(found.parent / workspace)
        return cls(
            credential,
            config.get("subscription_id"),
            config.get("resource_group") or config.get("resource_group_name"),
            config.get("workspace_name"),
            workspace=kwargs.pop("workspace", None) or workspace,
            tracking_uri=kwargs.pop("tracking_uri", None) or config.get("tracking_uri"),
            artifact_location=kwargs.pop("artifact_location", None)
            or config.get("artifact_location"),
            **kwargs,
        )

    @property
    def workspace(self) -> Workspace:
        return self._workspace

    @property
    def tracking_uri(self) -> str:
        """Point plain MLflow here (``mlflow.set_tracking_uri``) to see this workspace."""
        return self._workspace.tracking_uri

    @functools.cached_property
    def models(self) -> ModelOperations:
        return ModelOperations(self._workspace)

    @functools.cached_property
    def jobs(self) -> JobOperations:
        return JobOperations(self._workspace)

    @functools.cached_property
    def computes(self) -> ComputeOperations:
        return ComputeOperations(self._workspace)

    @property
    def compute(self) -> ComputeOperations:
        """Azure's spelling (``ml_client.compute.get(name)``) of ``computes``."""
        return self.computes

    @functools.cached_property
    def environments(self) -> EnvironmentOperations:
        try:
            from mlkube.operations.environments import EnvironmentOperations
        except ImportError as error:  # pragma: no cover - present in a full install
            raise AttributeError(f"environments are not available: {error}") from None
        return EnvironmentOperations(self._workspace)

    @functools.cached_property
    def online_endpoints(self) -> OnlineEndpointOperations:
        from mlkube.operations.online_endpoints import OnlineEndpointOperations

        return OnlineEndpointOperations(self._workspace)

    @functools.cached_property
    def online_deployments(self) -> OnlineDeploymentOperations:
        from mlkube.operations.online_deployments import OnlineDeploymentOperations

        return OnlineDeploymentOperations(self._workspace, models=self.models,
                                          environments=self._environments_or_none())

    # --- Azure's entity-typed shortcuts -----------------------------------------------------

    def begin_create_or_update(self, entity: Any, **kwargs: Any) -> LROPoller[Any]:
        """Create or update any entity in its operation group, as Azure's
        ``ml_client.begin_create_or_update(endpoint).result()``: endpoints, deployments and
        computes start a long-running operation; models, environments and jobs finish at
        once (the poller holds their result)."""
        operations = self._operations_for(entity)
        if hasattr(operations, "begin_create_or_update"):
            return operations.begin_create_or_update(entity, **kwargs)
        return LROPoller(lambda _report: operations.create_or_update(entity, **kwargs),
                         progress=None, description=f"{type(entity).__name__} update")

    def create_or_update(self, entity: Any, **kwargs: Any) -> Any:
        """Create or update any entity and return it (Azure's
        ``ml_client.create_or_update(job)``); long-running kinds are waited for."""
        operations = self._operations_for(entity)
        if hasattr(operations, "create_or_update"):
            return operations.create_or_update(entity, **kwargs)
        return operations.begin_create_or_update(entity, **kwargs).result()

    def _operations_for(self, entity: Any) -> Any:
        from mlkube.entities.compute import Compute
        from mlkube.entities.environment import Environment
        from mlkube.entities.job import Command
        from mlkube.entities.model import Model
        from mlkube.entities.online_deployment import OnlineDeployment
        from mlkube.entities.online_endpoint import OnlineEndpoint

        groups: tuple[tuple[type, str], ...] = (
            (OnlineEndpoint, "online_endpoints"), (OnlineDeployment, "online_deployments"),
            (Compute, "computes"), (Model, "models"), (Environment, "environments"),
            (Command, "jobs"),
        )
        for kind, group in groups:
            if isinstance(entity, kind):
                return getattr(self, group)
        raise ValidationError(
            f"MLClient cannot create or update a {type(entity).__name__}.",
            hint="Pass an online endpoint or deployment, a compute, a model, an environment "
            "or a command job.")

    def _environments_or_none(self) -> EnvironmentOperations | None:
        try:
            return self.environments
        except AttributeError:
            return None

    def __repr__(self) -> str:
        return f"MLClient(workspace={self._workspace!r})"


def _find_config(start: Path, file_name: str) -> Path:
    if start.is_file():
        return start
    for folder in (start, *start.parents):
        for candidate in (folder / file_name, folder / ".azureml" / file_name):
            if candidate.is_file():
                return candidate
    raise RequiredLocalArtifactsNotFoundError(
        f"No {file_name} in {start} or any folder above it.",
        hint="Write one ({\"workspace_name\": ..., or \"workspace\": \"./.mlkube\"}), pass "
        "path=..., or construct MLClient(...) directly.",
    )
