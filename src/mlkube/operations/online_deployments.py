"""``ml_client.online_deployments``: run a model behind an endpoint, inspect it, read its
logs, delete it.

Shaped like Azure ML v2's ``OnlineDeploymentOperations`` (``begin_create_or_update``,
``get``, ``list``, ``get_logs``, ``begin_delete``, ``local=True`` accepted). Creating a
deployment prepares it on this machine (``deployment_preparation``: model fetched, code
checked, environment resolved) and hands it to the endpoint's target, which builds the
environment, starts the instances and waits for them to be ready.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from mlkube.entities.elastic_scale import report_scaling
from mlkube.entities.online_deployment import OnlineDeployment
from mlkube.entities.rollout import ProgressiveRollout
from mlkube.errors import ValidationError
from mlkube.operations.deployment_preparation import prepare_deployment, registered_reference
from mlkube.operations.endpoint_targets import (
    EndpointTargets,
    workspace_computes,
    workspace_folder,
)
from mlkube.operations.label_following import check_follows_label, pinned
from mlkube.operations.poller import LROPoller, ProgressCallback, print_progress
from mlkube.operations.progressive_rollout import shift_traffic_progressively
from mlkube.targets.base import ContainerType, Progress
from mlkube.workspace.workspace import Workspace

if TYPE_CHECKING:
    from mlkube.operations.environments import EnvironmentOperations
    from mlkube.operations.models import ModelOperations


class OnlineDeploymentOperations:
    """Online deployments of one workspace (Azure ML's ``ml_client.online_deployments``)."""

    def __init__(self, workspace: Workspace, *, models: ModelOperations | None = None,
                 environments: EnvironmentOperations | None = None) -> None:
        root = workspace_folder(workspace)
        self._targets = EndpointTargets(root, computes=workspace_computes(workspace))
        self._cache_dir = root / "cache"
        self._models = models
        self._environments = environments

    def begin_create_or_update(
        self, deployment: OnlineDeployment, *, local: bool = False,
        progress: ProgressCallback | None = print_progress,
        rollout: ProgressiveRollout | None = None, **_azure_kwargs: Any,
    ) -> LROPoller[OnlineDeployment]:
        """Create or replace the deployment; the poller's result is the deployment in
        state ``Succeeded``, or ``DeploymentFailedError`` with the cause from its log.

        Replacing an existing deployment starts the new instances beside the old ones
        and switches traffic only once all are ready, so callers see no failed request.
        With ``rollout`` (mlkube's addition), the ready deployment then gets the
        endpoint's traffic step by step while the gateway's metrics for it are watched
        (``progressive_rollout``); past a threshold the previous traffic is restored and
        the poller raises ``RolloutRolledBackError`` saying why.
        """
        return self._begin_apply(deployment, local=local, progress=progress, rollout=rollout)

    def _begin_apply(
        self, deployment: OnlineDeployment, *, local: bool,
        progress: ProgressCallback | None, rollout: ProgressiveRollout | None = None,
        pinned_version: str | None = None,
    ) -> LROPoller[OnlineDeployment]:
        """``begin_create_or_update``; ``pinned_version`` (the registry watcher's rollback)
        serves that version of the model's label while the spec keeps naming the label."""
        if not isinstance(deployment, OnlineDeployment):
            raise ValidationError(
                f"begin_create_or_update takes an OnlineDeployment, not "
                f"{type(deployment).__name__}.",
                hint="Pass ManagedOnlineDeployment(...) or load_online_deployment(path).")
        if not deployment.endpoint_name:
            raise ValidationError(
                f"Deployment {deployment.name} has no endpoint_name.",
                hint="Set endpoint_name= (YAML: endpoint_name:, CLI: --endpoint-name).")
        if deployment.follow_model_label:
            check_follows_label(deployment)
        if rollout is not None and not isinstance(rollout, ProgressiveRollout):
            raise ValidationError(
                f"rollout takes a ProgressiveRollout, not {type(rollout).__name__}.",
                hint="Pass rollout=ProgressiveRollout(traffic_steps=[10, 50, 100], ...).")
        target = self._targets.for_endpoint(deployment.endpoint_name, local=local)
        target.get_endpoint(deployment.endpoint_name)  # fail now if the endpoint is missing

        def operation(report: Progress) -> OnlineDeployment:
            report(f"preparing deployment {deployment.name} of {deployment.endpoint_name}")
            report_scaling(deployment, report)
            local_deployment, prepared = prepare_deployment(
                pinned(deployment, pinned_version), cache_dir=self._cache_dir,
                models=self._models, environments=self._environments, progress=report)
            if deployment.model is not None and registered_reference(deployment.model):
                # Kept with the deployment: `show` says which version @latest meant then.
                local_deployment = local_deployment.model_copy(update={
                    "model": deployment.model,
                    "served_model": f"{prepared.model_name}:{prepared.model_version}"})
            applied = target.apply_deployment(local_deployment, prepared, progress=report)
            if rollout is not None:
                shift_traffic_progressively(target, deployment.endpoint_name or "",
                                            deployment.name, rollout, progress=report)
                applied = target.get_deployment(deployment.endpoint_name or "",
                                                deployment.name)
            return applied

        return LROPoller(operation, progress=progress,
                         description=f"deployment {deployment.name} update", synchronous=local)

    def get(self, name: str, endpoint_name: str, *, local: bool = False) -> OnlineDeployment:
        return self._targets.for_endpoint(endpoint_name, local=local).get_deployment(
            endpoint_name, name)

    def list(self, endpoint_name: str, *, local: bool = False) -> builtins.list[OnlineDeployment]:
        return self._targets.for_endpoint(endpoint_name, local=local).list_deployments(
            endpoint_name)

    def get_logs(self, name: str, endpoint_name: str, lines: int | None = None, *,
                 container_type: str | None = None, local: bool = False,
                 previous: bool = False) -> str:
        """The last ``lines`` lines (all with None) of the deployment's inference-server
        log, or of its ``storage-initializer`` log (model, code and environment setup).

        ``previous`` (mlkube's addition) gives the inference server's log from before its
        last restart, where the cause of a crash is; "" when it never restarted."""
        kind = container_type or "inference-server"
        kind = kind.lower().replace("_", "-")
        if kind != "inference-server" and kind != "storage-initializer":
            raise ValidationError(
                f"container_type {container_type!r} is not a log source.",
                hint="Use 'inference-server' (default) or 'storage-initializer'.")
        source: ContainerType = ("inference-server" if kind == "inference-server"
                                 else "storage-initializer")
        if lines is not None and lines < 1:
            raise ValidationError(f"lines is {lines}; ask for at least 1 line.",
                                  hint="Pass lines=100, or None for the whole log.")
        target = self._targets.for_endpoint(endpoint_name, local=local)
        if previous and source != "inference-server":
            raise ValidationError(
                "previous=True reads the inference server's log from before a restart; "
                "the storage-initializer log has no previous run.",
                hint="Drop previous, or ask for container_type='inference-server'.")
        return target.deployment_logs(endpoint_name, name, lines=lines,
                                      container_type=source, previous=previous)

    def begin_delete(self, name: str, endpoint_name: str, *, local: bool = False,
                     progress: ProgressCallback | None = print_progress) -> LROPoller[None]:
        """Stop the deployment's instances once the gateway no longer routes to them.

        A deployment that still has traffic or mirror traffic is refused (ConflictError):
        move its traffic first, as Azure ML requires.
        """
        target = self._targets.for_endpoint(endpoint_name, local=local)
        target.get_deployment(endpoint_name, name)
        return LROPoller(
            lambda report: target.delete_deployment(endpoint_name, name, progress=report),
            progress=progress, description=f"deployment {name} deletion", synchronous=local)
