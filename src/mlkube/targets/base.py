"""The one seam between the control plane and where endpoints run.

Operations validate specs, fetch models and resolve environments; a ``Target`` only runs
what it is given. Every target (local processes, Docker containers, a Kubernetes cluster)
implements the same small ``Target`` protocol, as every httpx transport implements
``handle_request``: operations pick one by the endpoint's ``compute`` and never look
inside it. What a target needs to run a deployment is one ``PreparedDeployment``: the
model folder and code on this machine plus the resolved environment, the same inputs for
a virtualenv, an image or a pod.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from mlkube.entities.container_layout import (
    UNREGISTERED_VERSION,
    ContainerLayout,
    build_layout,
    host_layout,
)
from mlkube.entities.online_deployment import OnlineDeployment
from mlkube.entities.online_endpoint import OnlineEndpoint
from mlkube.environments.resolved import ResolvedEnvironment
from mlkube.gateway.auth import EndpointKeys

#: Receives one human-readable line per step ("building environment", "instance 1 ready").
Progress = Callable[[str], None]

#: Azure ML's log sources: the inference server, or what prepared the model and code.
ContainerType = Literal["inference-server", "storage-initializer"]


@dataclass(frozen=True)
class PreparedDeployment:
    """Everything a target needs to run one deployment, fetched and resolved on this machine.

    ``model_dir`` is what ``AZUREML_MODEL_DIR`` points at: a folder in which the model
    appears under its own name (``model_dir / model_folder``), as on Azure ML.
    """

    #: The folder ``AZUREML_MODEL_DIR`` names, None for a deployment with code only.
    model_dir: Path | None
    #: The model's folder (or file) name inside ``model_dir`` (``MLFLOW_MODEL_FOLDER``).
    model_folder: str | None
    #: Registered name and version, or the folder name and "1" for a local model.
    model_name: str | None
    model_version: str | None
    #: True when the model is an MLflow model (scored with no code if no script is given).
    mlflow_model: bool
    #: The code folder and the scoring script's path inside it (None: no-code mode).
    code_dir: Path | None
    scoring_script: str | None
    #: The environment the inference server runs in, mlkube's server included.
    environment: ResolvedEnvironment
    #: Extra variables for the inference server (the deployment's environment_variables).
    environment_variables: dict[str, str] = field(default_factory=dict)
    #: What preparation did, kept as the deployment's storage-initializer log.
    notes: tuple[str, ...] = ()

    def container_layout(self) -> ContainerLayout:
        """Where a container of this deployment holds model and code: the one layout the
        image is built to and the container or pod is started with."""
        has_model = self.model_dir is not None
        return build_layout(
            model_name=(self.model_name or "model") if has_model else None,
            model_version=(self.model_version or UNREGISTERED_VERSION) if has_model else None,
            model_folder=self.model_folder, mlflow_model=self.mlflow_model,
            code_folder=self.code_dir.name if self.code_dir else None,
            scoring_script=self.scoring_script)

    def host_layout(self) -> ContainerLayout:
        """The same variables for a server on this machine, naming these folders."""
        return host_layout(
            model_dir=str(self.model_dir) if self.model_dir is not None else None,
            model_folder=self.model_folder, mlflow_model=self.mlflow_model,
            code_dir=str(self.code_dir) if self.code_dir is not None else None,
            scoring_script=self.scoring_script, model_name=self.model_name,
            model_version=self.model_version)


@runtime_checkable
class Target(Protocol):
    """Runs endpoints and their deployments somewhere; every method is synchronous.

    Errors are mlkube errors: ``LocalEndpointNotFoundError`` / ``ResourceNotFoundError``
    for unknown names, ``DeploymentFailedError`` (with the cause from the instance log)
    when a deployment does not become ready, ``TargetError`` when the target itself cannot
    act. Returned entities carry the read-only fields (``scoring_uri``,
    ``provisioning_state``) filled in.
    """

    #: "local", "docker" or "kubernetes".
    kind: str

    # --- endpoints -------------------------------------------------------------------
    def apply_endpoint(self, endpoint: OnlineEndpoint, *, progress: Progress) -> OnlineEndpoint:
        """Create the endpoint (gateway, keys) or update its auth, traffic and mirror."""
        ...

    def get_endpoint(self, name: str) -> OnlineEndpoint: ...

    def list_endpoints(self) -> list[OnlineEndpoint]: ...

    def delete_endpoint(self, name: str, *, progress: Progress) -> None:
        """Stop the endpoint's gateway and every deployment, and forget its state."""
        ...

    def scoring_uri(self, name: str) -> str:
        """The endpoint's stable ``/score`` URI."""
        ...

    def endpoint_keys(self, name: str) -> EndpointKeys: ...

    def regenerate_key(self, name: str, key_type: str, *, progress: Progress) -> None:
        """Replace the primary or secondary key; the old one stops working on return.
        Operations have checked that the endpoint is in key mode."""
        ...

    # --- deployments -----------------------------------------------------------------
    def apply_deployment(self, deployment: OnlineDeployment, prepared: PreparedDeployment, *,
                         progress: Progress) -> OnlineDeployment:
        """Run (or replace) the deployment's instances and return once they are ready."""
        ...

    def get_deployment(self, endpoint_name: str, name: str) -> OnlineDeployment: ...

    def list_deployments(self, endpoint_name: str) -> list[OnlineDeployment]: ...

    def delete_deployment(self, endpoint_name: str, name: str, *, progress: Progress) -> None:
        ...

    def deployment_logs(self, endpoint_name: str, name: str, *, lines: int | None,
                        container_type: ContainerType, previous: bool = False) -> str:
        """The last ``lines`` of each instance's log; with ``previous``, the log of the
        instance's container before its last restart ("" when it never restarted)."""
        ...
