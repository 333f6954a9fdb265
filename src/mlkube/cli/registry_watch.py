"""``mlkube watch-registry``: roll deployments that follow their model's label out again
when the label moves (``operations.registry_watcher``).

Locally nobody needs to run it: an endpoint's supervisor runs one for the endpoint while
a deployment of it follows a label. Run it by hand (or as a service) for endpoints on
Kubernetes, anywhere the workspace (``--workspace`` / ``$MLKUBE_TRACKING_URI``) and the
attached compute are reachable; ``--once`` polls once and exits (cron, CI).
"""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from mlkube.cli.online_endpoint import client
from mlkube.cli.workspace import WORKSPACE_OPTION


def watch_registry(
    endpoint: list[str] = typer.Option(
        [], "--endpoint", "-e",
        help="Watch only this endpoint (repeat for more); default: every endpoint."),
    interval: float = typer.Option(5.0, "--interval", min=0.1,
                                   help="Seconds between polls of the registry."),
    once: bool = typer.Option(False, "--once", help="Poll once, then exit."),
    print_manifest: bool = typer.Option(
        False, "--print-manifest",
        help="Print the watcher as a Kubernetes Deployment (YAML) instead of running it."),
    namespace: str = typer.Option("default", "--namespace",
                                  help="With --print-manifest: the namespace."),
    image: str | None = typer.Option(
        None, "--image", help="With --print-manifest: an image with mlkube installed."),
    workspace_secret: str = typer.Option(
        "mlkube-workspace", "--workspace-secret",
        help="With --print-manifest: Secret holding MLKUBE_TRACKING_URI (and credentials, "
        "DOCKER_HOST)."),
    kubeconfig_secret: str = typer.Option(
        "mlkube-kubeconfig", "--kubeconfig-secret",
        help="With --print-manifest: Secret holding the compute's kubeconfig (key config)."),
    build: bool = typer.Option(
        False, "--build", help="With --print-manifest: build the watcher's image (mlkube "
        "and its control plane, as installed here) and push it to --registry."),
    registry: str | None = typer.Option(
        None, "--registry", help="With --build: HOST[:PORT]/PATH to push the image to."),
    docker_socket: str | None = typer.Option(
        None, "--docker-socket", help="With --print-manifest: build new versions' images "
        "with the Docker engine behind this socket on the node (the pod runs as root)."),
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Roll out deployments with follow_model_label whose label names a new version."""
    from mlkube.operations.registry_watcher import RegistryWatcher

    if print_manifest:
        _print_manifest(namespace=namespace, image=image, workspace_secret=workspace_secret,
                        kubeconfig_secret=kubeconfig_secret, interval=interval,
                        endpoints=list(endpoint), build=build, registry=registry,
                        docker_socket=docker_socket)
        return

    def log(line: str) -> None:
        typer.echo(line, err=True)

    watcher = RegistryWatcher(client(workspace), endpoints=list(endpoint) or None, log=log)
    if once:
        watcher.poll()
        return
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    watched = ", ".join(endpoint) if endpoint else "every endpoint"
    log(f"watching the registry for {watched} every {interval:g} s")
    try:
        watcher.run(interval_s=interval, until=lambda: bool(stopping))
    except KeyboardInterrupt:
        pass


def _print_manifest(*, namespace: str, image: str | None, workspace_secret: str,
                    kubeconfig_secret: str, interval: float, endpoints: list[str],
                    build: bool, registry: str | None, docker_socket: str | None) -> None:
    import yaml

    from mlkube.errors import ValidationError
    from mlkube.targets.kubernetes.watcher_manifests import render_registry_watcher

    if build and image:
        raise ValidationError("--build and --image both name the watcher's image.",
                              hint="Keep --image to use an image you built, or --build "
                                   "--registry R to have mlkube build one.")
    if build:
        if not registry:
            raise ValidationError("--build pushes the image it builds, so it needs "
                                  "--registry.", hint="Add --registry HOST[:PORT]/PATH (one "
                                  "the cluster's nodes can pull from).")
        from mlkube.operations.kubernetes_images import publish_registry_watcher_image

        image = publish_registry_watcher_image(
            registry=registry, progress=lambda line: typer.echo(f"mlkube: {line}", err=True))
    if not image:
        raise ValidationError("--print-manifest needs --image: an image with mlkube "
                              "installed that the cluster can pull.",
                              hint="Add --image registry.example.com/team/mlkube:0.1, or "
                                   "--build --registry R to build one.")
    manifests = render_registry_watcher(
        namespace=namespace, image=image, workspace_secret=workspace_secret,
        kubeconfig_secret=kubeconfig_secret, interval_s=interval,
        endpoints=endpoints or None, docker_socket=docker_socket)
    typer.echo(yaml.safe_dump_all(manifests, sort_keys=False), nl=False)


def register(app: typer.Typer) -> None:
    app.command("watch-registry")(watch_registry)
