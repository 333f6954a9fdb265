"""An endpoint's images for Kubernetes, built and pushed without a cluster: what
``mlkube k8s render --build`` pins its manifests to.

Without it, rendered pods name ``<registry>/<endpoint>-<deployment>:latest``, a tag
nothing builds and anyone may move. Here each deployment is prepared (model fetched,
environment resolved) and its image built and pushed exactly as the Kubernetes target
does on ``online-deployment create`` (``targets.kubernetes.images``), the gateway's too,
and the manifests name them by digest (``registry/repo@sha256:...``): what a GitOps
repository holds is what was built, and a re-pushed tag changes nothing that runs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlkube.entities.container_layout import ContainerLayout
from mlkube.entities.online_deployment import OnlineDeployment
from mlkube.entities.online_endpoint import OnlineEndpoint
from mlkube.operations.deployment_preparation import prepare_deployment
from mlkube.operations.endpoint_targets import workspace_folder
from mlkube.targets.base import Progress
from mlkube.targets.docker.build import build_ca_bundle, deployment_layout
from mlkube.targets.kubernetes.images import (
    check_registry,
    publish_deployment_image,
    publish_gateway_image,
)

if TYPE_CHECKING:
    from mlkube.operations.client import MLClient


@dataclass(frozen=True)
class EndpointImages:
    """Digest references of an endpoint's published images, for ``render_manifests``."""

    #: ``registry/mlkube-gateway@sha256:...``, or None when it was not built here.
    gateway: str | None
    #: Deployment name -> ``registry/<endpoint>-<deployment>@sha256:...``.
    deployments: dict[str, str] = field(default_factory=dict)
    #: Deployment name -> the layout its image holds model and code in (resolved
    #: versions, MLflow or not), for the pods' variables.
    layouts: dict[str, ContainerLayout] = field(default_factory=dict)


def publish_endpoint_images(
    ml_client: MLClient, endpoint: OnlineEndpoint, deployments: Sequence[OnlineDeployment], *,
    registry: str, progress: Progress, skip: Collection[str] = (), build_gateway: bool = True,
) -> EndpointImages:
    """Build and push the images of ``deployments`` (except those named in ``skip``,
    whose image the user gives) and the gateway's, to ``registry``; registered models
    are read from ``ml_client``'s workspace."""
    from mlkube.environments.server_package import build_server_wheel
    from mlkube.targets.docker.engine import DockerEngine

    registry = check_registry(registry)
    wheel = build_server_wheel()
    ca_bundle = build_ca_bundle()
    cache_dir = workspace_folder(ml_client.workspace) / "cache"
    engine = DockerEngine.connect()  # Docker not running: said before anything is prepared
    images: dict[str, str] = {}
    layouts: dict[str, ContainerLayout] = {}
    try:
        for deployment in deployments:
            if deployment.name in skip:
                continue
            progress(f"preparing deployment {deployment.name}")
            _, prepared = prepare_deployment(
                deployment, cache_dir=cache_dir, models=ml_client.models,
                environments=ml_client.environments, progress=progress)
            published = publish_deployment_image(
                engine, prepared, endpoint=endpoint.name, deployment=deployment.name,
                registry=registry, server_wheel=wheel, ca_bundle=ca_bundle, progress=progress)
            images[deployment.name] = published.digest_reference
            layouts[deployment.name] = deployment_layout(prepared)
        gateway = (publish_gateway_image(engine, registry=registry, server_wheel=wheel,
                                         ca_bundle=ca_bundle, progress=progress)
                   if build_gateway else None)
    finally:
        engine.close()
    return EndpointImages(gateway=gateway.digest_reference if gateway else None,
                          deployments=images, layouts=layouts)


def publish_registry_watcher_image(*, registry: str, progress: Progress) -> str:
    """Build and push the registry watcher's image (``watcher_image``) to ``registry``;
    its digest reference, for the watcher's manifest."""
    from mlkube.environments.server_package import build_server_wheel
    from mlkube.targets.docker.engine import DockerEngine
    from mlkube.targets.kubernetes.watcher_image import publish_watcher_image

    registry = check_registry(registry)
    wheel = build_server_wheel()
    engine = DockerEngine.connect()
    try:
        return publish_watcher_image(engine, registry=registry, server_wheel=wheel,
                                     ca_bundle=build_ca_bundle(),
                                     progress=progress).digest_reference
    finally:
        engine.close()
