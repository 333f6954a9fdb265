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
from typing import Any

from mlkube.atomic_files import read_json
from mlkube.entities.online_endpoint import OnlineEndpoint
from mlkube.errors import ConflictError, TargetError
from mlkube.targets.base import Target
from mlkube.targets.docker.target import DockerTarget
from mlkube.targets.local.state import ENDPOINT_FILE, endpoints_root
from mlkube.targets.local.target import LocalTarget


def workspace_folder(workspace: Any) -> Path:
    """The local folder of a ``Workspace`` (its ``root``), or a folder given directly."""
    if isinstance(workspace, str | os.PathLike):
        return Path(os.path.abspath(workspace))
    return Path(os.path.abspath(workspace.root))


class EndpointTargets:
    """The targets of one workspace."""

    def __init__(self, workspace_root: Path) -> None:
        self.workspace_root = Path(os.path.abspath(workspace_root))
        self._local: LocalTarget | None = None
        self._docker: DockerTarget | None = None

    @property
    def local(self) -> LocalTarget:
        if self._local is None:
            self._local = LocalTarget(self.workspace_root)
        return self._local

    @property
    def docker(self) -> DockerTarget:
        if self._docker is None:
            self._docker = DockerTarget(self.workspace_root)
        return self._docker

    def for_compute(self, compute: str | None, *, local: bool = False) -> Target:
        """The target a new endpoint with ``compute`` runs on (``local=True`` means "on
        this machine", as in Azure ML, so ``docker`` stays docker)."""
        if compute == "docker":
            return self.docker
        if local or compute in (None, "", "local"):
            return self.local
        raise TargetError(
            f"Endpoints on Kubernetes compute {compute!r} are not available in this mlkube "
            "yet.",
            hint="Deploy with compute: local (or local=True / --local) meanwhile.")

    def for_update(self, endpoint: OnlineEndpoint, *, local: bool = False) -> Target:
        """The target that applies ``endpoint``: a new one goes where its ``compute``
        says; an existing one stays where it runs (an update that leaves compute out keeps
        it, and compute cannot change, as in Azure ML)."""
        record: dict[str, Any] | None = read_json(
            endpoints_root(self.workspace_root) / endpoint.name / ENDPOINT_FILE, default=None)
        if record is None:
            return self.for_compute(endpoint.compute, local=local)
        current = record.get("compute") or "local"
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
        record: dict[str, Any] | None = read_json(
            endpoints_root(self.workspace_root) / name / ENDPOINT_FILE, default=None)
        compute = (record or {}).get("compute")
        if compute == "docker":  # its deployments are containers, local=True or not
            return self.docker
        if local:
            return self.local
        return self.for_compute(compute if record else None)

    def all(self, *, local: bool = False) -> list[Target]:
        """Every target that may hold endpoints of this workspace."""
        return [self.local]
