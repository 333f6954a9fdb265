"""`mlkube k8s render`: print an endpoint's Kubernetes manifests, for GitOps or review.

Needs no cluster and no attached compute: it reads the endpoint and deployment YAML files
and prints what ``mlkube online-endpoint create`` would apply. With ``--build`` it also
builds and pushes the images (as the Kubernetes target does, through
``operations.kubernetes_images``; registered models come from the workspace) and the
pods name them by digest. Notes about what the user must still change (images not built,
keys not rendered, no traffic) and build progress go to stderr, so stdout stays valid
multi-document YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast

import typer

from mlkube.cli.workspace import WORKSPACE_OPTION
from mlkube.errors import ValidationError

k8s_app = typer.Typer(help="Kubernetes manifests of online endpoints (no cluster needed).",
                      no_args_is_help=True)


@k8s_app.command("render")
def render(
    files: Annotated[list[Path], typer.Option(
        "--file", "-f", help="Endpoint YAML and deployment YAML files (Azure ML v2 shape).")],
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Namespace of every "
                                           "object.")] = "mlkube",
    image: Annotated[list[str] | None, typer.Option(
        "--image", help="DEPLOYMENT=IMAGE, the image a deployment runs (repeatable).")] = None,
    gateway_image: Annotated[str | None, typer.Option(
        "--gateway-image", help="Image of the endpoint's gateway.")] = None,
    registry: Annotated[str | None, typer.Option(
        "--registry", help="Registry of images not named by --image / --gateway-image.")] = None,
    build: Annotated[bool, typer.Option(
        "--build", help="Build and push those images to --registry, and name them by digest.",
    )] = False,
    service_type: Annotated[str, typer.Option(
        "--service-type", help="Gateway Service type: ClusterIP, NodePort or LoadBalancer.",
    )] = "ClusterIP",
    node_port: Annotated[int | None, typer.Option(
        "--node-port", help="Node port of a NodePort / LoadBalancer gateway Service.")] = None,
    ingress_host: Annotated[str | None, typer.Option(
        "--ingress-host", help="Host name of an Ingress in front of the gateway.")] = None,
    tls_secret: Annotated[str | None, typer.Option(
        "--tls-secret", help="TLS Secret of the Ingress (needs --ingress-host).")] = None,
    ingress_class: Annotated[str | None, typer.Option(
        "--ingress-class", help="ingressClassName of the Ingress.")] = None,
    gateway_replicas: Annotated[int, typer.Option(
        "--gateway-replicas", help="Gateway pods (2 survive a node drain).")] = 2,
    show_secrets: Annotated[bool, typer.Option(
        "--show-secrets", help="Generate fresh endpoint keys and print them in the Secret.",
    )] = False,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Print the endpoint's manifests as multi-document YAML (`kubectl apply -f -` ready).

    Images not named by --image run <registry>/<endpoint>-<deployment>:latest.

    Without --registry that registry is the placeholder mlkube.local: replace it.

    With --build --registry HOST[:PORT]/PATH they are built and pushed there first

    (registered models are read from --workspace), and pods name them by digest.

    The keys Secret has no values unless --show-secrets generates fresh ones.

    On a cluster, `mlkube online-endpoint create` fills it.

    For GitOps, create it from your secret store: one key, keys.json, as --show-secrets has it.
    """
    from mlkube.entities.online_deployment import OnlineDeployment, load_online_deployment
    from mlkube.entities.online_endpoint import OnlineEndpoint, load_online_endpoint
    from mlkube.gateway.auth import generate_keys
    from mlkube.targets.kubernetes.gateway_manifests import IngressSettings, ServiceType
    from mlkube.targets.kubernetes.render import (
        dump_manifests,
        render_manifests,
        uses_default_images,
    )

    endpoints: list[OnlineEndpoint] = []
    deployments: list[OnlineDeployment] = []
    for file in files:
        if _is_deployment(file):
            deployments.append(load_online_deployment(file))
        else:
            endpoints.append(load_online_endpoint(file))
    if len(endpoints) != 1:
        found = ", ".join(str(f) for f in files if not _is_deployment(f)) or "none"
        raise ValidationError(
            f"Give exactly one endpoint YAML file; found {len(endpoints)} ({found}).",
            hint="Pass -f endpoint.yml once and -f deployment.yml for each deployment; a "
                 "deployment file is one with model:, code_configuration: or endpoint_name:.")
    if tls_secret and not ingress_host:
        raise ValidationError("--tls-secret needs --ingress-host.",
                              hint="Add --ingress-host HOST (the name clients use).")
    if build and not registry:
        raise ValidationError("--build pushes the images it builds, so it needs --registry.",
                              hint="Add --registry HOST[:PORT]/PATH: a registry this machine "
                                   "can push to and the cluster's nodes can pull from.")
    images = dict(_image_assignment(item) for item in image or [])
    ingress = (IngressSettings(host=ingress_host, tls_secret=tls_secret,
                               class_name=ingress_class) if ingress_host else None)
    endpoint = endpoints[0]
    keys = generate_keys() if show_secrets else None

    def render_with(images: dict[str, str], gateway_image: str | None,
                    layouts: dict[str, Any]) -> list[dict[str, Any]]:
        return render_manifests(
            endpoint, deployments, namespace=namespace, images=images,
            gateway_image=gateway_image, registry=registry,
            service_type=cast(ServiceType, service_type),  # render_manifests checks it
            node_port=node_port, ingress=ingress, keys=keys,
            gateway_replicas=gateway_replicas, layouts=layouts)

    manifests = render_with(images, gateway_image, {})  # bad options fail before a build
    if build and registry:
        published = _build_images(endpoint, deployments, registry=registry, images=images,
                                  gateway_image=gateway_image, workspace=workspace)
        images.update(published.deployments)
        gateway_image = gateway_image or published.gateway
        manifests = render_with(images, gateway_image, published.layouts)
    typer.echo(dump_manifests(manifests), nl=False)

    placeholders = uses_default_images(deployments, images=images, gateway_image=gateway_image,
                                       registry=registry)
    if placeholders:
        _note(f"images of {', '.join(placeholders)} are placeholders (mlkube.local/...): "
              "pass --registry REGISTRY --build, or --image DEPLOYMENT=IMAGE / "
              "--gateway-image IMAGE.")
    elif not build and (unbuilt := uses_default_images(
            deployments, images=images, gateway_image=gateway_image, registry=None)):
        _note(f"images of {', '.join(unbuilt)} name tags under {registry} that nothing has "
              "built (a deployment's is :latest): add --build to build and push them and "
              "pin them by digest.")
    if not show_secrets:
        _note("the keys Secret has no values; `mlkube online-endpoint create` fills it, or "
              "rerun with --show-secrets to print fresh keys in it.")
    if not deployments:
        _note("no deployment files given: only the endpoint's gateway was rendered.")
    elif not any(endpoint.traffic.values()):
        _note(f"traffic is empty: requests reach a deployment only with the "
              f"azureml-model-deployment header; set traffic: {{{deployments[0].name}: 100}} "
              "in the endpoint YAML.")


def _build_images(endpoint: Any, deployments: list[Any], *, registry: str,
                  images: dict[str, str], gateway_image: str | None,
                  workspace: Path | None) -> Any:
    from mlkube.cli.online_endpoint import client
    from mlkube.operations.kubernetes_images import publish_endpoint_images
    from mlkube.operations.poller import print_progress

    return publish_endpoint_images(
        client(workspace), endpoint, deployments, registry=registry, progress=print_progress,
        skip=set(images), build_gateway=gateway_image is None)


def _is_deployment(file: Path) -> bool:
    from mlkube.doctor.endpoint_checks import DEPLOYMENT_KEYS
    from mlkube.entities.base import load_yaml_mapping

    data = load_yaml_mapping(file)
    return bool(DEPLOYMENT_KEYS & set(data))


def _image_assignment(item: str) -> tuple[str, str]:
    name, sep, reference = item.partition("=")
    if not sep or not name.strip() or not reference.strip():
        raise ValidationError(f"--image {item!r} is not DEPLOYMENT=IMAGE.",
                              hint="Write --image blue=registry.example.com/iris-blue:1.")
    return name.strip(), reference.strip()


def _note(text: str) -> None:
    typer.echo(f"Note: {text}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(k8s_app, name="k8s")
