"""Choosing the target an endpoint runs on, from its ``compute`` or its recorded state.

``compute`` says where a new endpoint goes: ``local`` (the default, also chosen by
``local=True`` as in Azure ML), ``docker``, or the name of an attached Kubernetes
compute. Later operations name only the endpoint, so the target is found from what was
recorded when it was created. New targets register here, behind the same ``Target``
protocol; nothing else in the operations changes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from mlkube.entities.compute import BUILTIN_COMPUTES, Compute, KubernetesCompute
from mlkube.entities.online_endpoint import OnlineEndpoint
from mlkube.errors import ConflictError, MlkubeError, ResourceNotFoundError, TargetError
from mlkube.targets.base import Target
from mlkube.targets.docker.build import build_ca_bundle
from mlkube.targets.docker.runner import ContainerRunner
from mlkube.targets.local.process_runner import ProcessRunner
from mlkube.targets.local.state import recorded_compute
from mlkube.targets.local.target import MachineTarget
from mlkube.workspace.workspace import Workspace


def workspace_folder(workspace: Workspace) -> Path:
    """The local folder of a ``Workspace`` (its ``root``), where endpoint state lives."""
    return Path(os.path.abspath(workspace.root))


def workspace_computes(workspace: Workspace) -> ComputeLookup:
    """The workspace's computes, where an endpoint's ``compute`` is looked up."""
    from mlkube.operations.computes import ComputeOperations

    return ComputeOperations(workspace)


class ComputeLookup(Protocol):
    """What target selection needs of ``ml_client.computes``."""

    def get(self, name: str) -> Compute: ...

    def list(self) -> list[Compute]: ...


class EndpointTargets:
    """The targets of one workspace: the built-in ones and one per attached cluster."""

    def __init__(self, workspace_root: Path, *, computes: ComputeLookup | None = None) -> None:
        self.workspace_root = Path(os.path.abspath(workspace_root))
        self._computes = computes
        self._local: MachineTarget[ProcessRunner] | None = None
        self._docker: MachineTarget[ContainerRunner] | None = None
        self._clusters: dict[str, Target] = {}

    @property
    def local(self) -> MachineTarget[ProcessRunner]:
        """Endpoints on this machine whose instances are processes."""
        if self._local is None:
            self._local = MachineTarget(self.workspace_root, ProcessRunner())
        return self._local

    @property
    def docker(self) -> MachineTarget[ContainerRunner]:
        """Endpoints on this machine whose instances are containers."""
        if self._docker is None:
            self._docker = MachineTarget(self.workspace_root, ContainerRunner())
        return self._docker

    def for_compute(self, compute: str | None, *, local: bool = False) -> Target:
        """The target a new endpoint with ``compute`` runs on (``local=True`` means "on
        this machine", as in Azure ML, so ``docker`` stays docker)."""
        if compute == "docker":
            return self.docker
        if local or compute in (None, "", "local"):
            return self.local
        return self.kubernetes(compute)

    def kubernetes(self, compute_name: str) -> Target:
        """The target of the attached Kubernetes compute ``compute_name``."""
        name = compute_name.removeprefix("azureml:")
        if name not in self._clusters:
            if self._computes is None:
                raise TargetError(
                    f"Compute {name!r} is not local or docker, and this client has no "
                    "workspace computes to look it up in.",
                    hint="Use MLClient(...).online_endpoints, or compute: local | docker.")
            compute = self._computes.get(name)
            if not isinstance(compute, KubernetesCompute):
                raise TargetError(
                    f"Compute {name!r} is a {compute.type} compute; online endpoints run on "
                    f"{', '.join(BUILTIN_COMPUTES)} or an attached Kubernetes compute.",
                    hint="Attach a cluster: mlkube compute attach --name NAME --kubeconfig "
                    "PATH --namespace NS --registry REGISTRY.")
            from mlkube.targets.kubernetes.target import KubernetesTarget

            self._clusters[name] = KubernetesTarget(compute, ca_bundle=build_ca_bundle())
        return self._clusters[name]

    def _cluster_holding(self, endpoint_name: str) -> Target | None:
        """The attached cluster that runs ``endpoint_name`` (state lives in the cluster,
        so any machine with the kubeconfig finds it); clusters that do not answer are
        passed over."""
        for compute in self._attached_clusters():
            target = self.kubernetes(compute.name)
            try:
                target.get_endpoint(endpoint_name)
            except MlkubeError:
                continue
            return target
        return None

    def _attached_clusters(self) -> list[Compute]:
        if self._computes is None:
            return []
        return [c for c in self._computes.list() if isinstance(c, KubernetesCompute)]

    def for_update(self, endpoint: OnlineEndpoint, *, local: bool = False) -> Target:
        """The target that applies ``endpoint``: a new one goes where its ``compute``
        says; an existing one stays where it runs (an update that leaves compute out keeps
        it, and compute cannot change, as in Azure ML)."""
        current = recorded_compute(self.workspace_root, endpoint.name)
        if current is None:
            return self.for_compute(endpoint.compute, local=local)
        if endpoint.compute not in (None, "", current):
            raise ConflictError(
                f"Endpoint {endpoint.name} runs on compute {current}; its compute cannot "
                f"change to {endpoint.compute}.",
                hint="Leave compute out of the update, or delete the endpoint and create it "
                "again on the new compute.")
        return self.for_endpoint(endpoint.name, local=local)

    def for_endpoint(self, name: str, *, local: bool = False) -> Target:
        """The target an existing endpoint runs on (the local one when it is unknown, so
        its not-found error names the endpoint)."""
        compute = recorded_compute(self.workspace_root, name)
        if compute == "docker":  # its deployments are containers, local=True or not
            return self.docker
        if local:
            return self.local
        if compute is None:
            cluster = self._cluster_holding(name)
            if cluster is not None:
                return cluster
        return self.for_compute(compute)

    def all(self, *, local: bool = False) -> list[Target]:
        """Every target that may hold endpoints of this workspace."""
        if local:
            return [self.local]
        targets: list[Target] = [self.local]
        for compute in self._attached_clusters():
            try:
                targets.append(self.kubernetes(compute.name))
            except ResourceNotFoundError:
                continue
        return targets

