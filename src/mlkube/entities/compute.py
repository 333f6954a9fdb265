"""Computes: where jobs and deployments run.

``local`` (processes on this machine) and ``docker`` (containers through the local Docker
engine) are built in and always exist. A Kubernetes cluster is attached by name with the
kubeconfig, context and namespace to use and the image registry to push to; the record is
kept in the workspace, so every machine sharing the workspace sees the same computes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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


def builtin_compute(name: str) -> Compute:
    """The built-in compute ``name`` (``local`` or ``docker``)."""
    if name == "docker":
        return DockerCompute(name="docker", description="The local Docker engine.",
                             provisioning_state="Succeeded")
    return LocalCompute(name="local", description="Processes on this machine.",
                        provisioning_state="Succeeded")
