"""Computes: where jobs and deployments run.

``local`` (processes on this machine) and ``docker`` (containers through the local Docker
engine) are built in and always exist. A Kubernetes cluster is attached by name with the
kubeconfig, context and namespace to use and the image registry to push to. An
``AmlCompute`` (Azure ML's training cluster) is a named compute whose command jobs run on
this machine, at most ``max_instances`` at once. Records are kept in the workspace, so
every machine sharing the workspace sees the same computes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from mlkube.entities.base import SpecPath
from mlkube.entities.sdk_resource import SdkResource

BUILTIN_COMPUTES = ("local", "docker")


class Compute(SdkResource):
    """Base of every compute; ``type`` tells them apart."""

    name: str
    type: str
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    # Read-only, set by the workspace.
    provisioning_state: str | None = None
    created_at: str | None = None


class LocalCompute(Compute):
    """This machine: jobs as subprocesses, deployments as supervised processes."""

    type: Literal["local"] = "local"


class DockerCompute(Compute):
    """The local Docker engine: deployments as containers on 127.0.0.1 ports."""

    type: Literal["docker"] = "docker"


class KubernetesCompute(Compute):
    """An attached Kubernetes cluster.

    ``kubeconfig`` is the file to read (default: ``$KUBECONFIG`` or ``~/.kube/config``
    at use time), ``context`` the kubeconfig context (default: its current context),
    ``namespace`` where mlkube creates its objects, and ``registry`` the image registry
    the cluster pulls deployment images from (``host[:port]/prefix``).
    """

    type: Literal["kubernetes"] = "kubernetes"
    kubeconfig: SpecPath | None = None
    context: str | None = None
    namespace: str = "default"
    registry: str | None = None


class AmlCompute(Compute):
    """Azure ML's training cluster, as a named compute for command jobs on this machine.

    ``max_instances`` is how many of its jobs run at once (the others wait, Queued);
    ``size`` (the VM size) and the scale-down settings are kept for the record only:
    jobs use this machine as it is.
    """

    type: Literal["amlcompute"] = "amlcompute"
    size: str | None = None
    min_instances: int = Field(0, ge=0, le=1000)
    max_instances: int = Field(1, ge=1, le=1000)
    idle_time_before_scale_down: int | None = None
    tier: str | None = None
    location: str | None = None
    # Accepted so Azure scripts and YAML load unchanged; nothing here uses them.
    identity: dict[str, Any] | None = None
    ssh_public_access_enabled: bool | None = None
    ssh_settings: dict[str, Any] | None = None
    network_settings: dict[str, Any] | None = None
    enable_node_public_ip: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _azure_type_spelling(cls, data: Any) -> Any:
        # Azure writes type "amlcompute" in YAML and "AmlCompute" in the CLI.
        if isinstance(data, dict) and isinstance(data.get("type"), str):
            data = {**data, "type": data["type"].lower()}
        return data


def compute_class(data: dict[str, Any]) -> type[Compute]:
    """The entity class a stored or YAML compute mapping describes."""
    kind = str(data.get("type") or "").lower()
    classes: dict[str, type[Compute]] = {
        "kubernetes": KubernetesCompute, "amlcompute": AmlCompute, "local": LocalCompute,
        "docker": DockerCompute}
    return classes.get(kind, Compute)


def builtin_compute(name: str) -> Compute:
    """The built-in compute ``name`` (``local`` or ``docker``)."""
    if name == "docker":
        return DockerCompute(name="docker", description="The local Docker engine.",
                             provisioning_state="Succeeded")
    return LocalCompute(name="local", description="Processes on this machine.",
                        provisioning_state="Succeeded")
