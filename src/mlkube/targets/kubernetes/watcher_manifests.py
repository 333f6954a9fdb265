"""The registry watcher as a Kubernetes Deployment, for endpoints on a cluster: printed by
``mlkube watch-registry --print-manifest`` for ``kubectl apply`` or GitOps.

The pod runs ``mlkube watch-registry`` as any machine would, so it needs what a user's
machine has when it updates a deployment there: the workspace (a tracking server URI and
its credentials, from the Secret ``workspace_secret``: ``MLKUBE_TRACKING_URI``, optional
``MLKUBE_ARTIFACT_LOCATION``, ``MLFLOW_TRACKING_USERNAME`` / ``PASSWORD`` / ``TOKEN``), a
kubeconfig for the attached compute (Secret ``kubeconfig_secret``, key ``config``,
mounted where ``$KUBECONFIG`` points: attach the compute without ``--kubeconfig`` so it
reads that variable), and a Docker engine to build the new version's image
(``DOCKER_HOST`` in the workspace Secret, e.g. a build daemon Service, or the node's own
engine: ``docker_socket`` mounts its socket, and the container then runs as root, since
the socket admits root and its group only, and whoever holds it is root on the node
anyway). One replica, ``Recreate``: two watchers would roll the same change out twice.
The image: any with mlkube installed, e.g. ``watcher_image``'s. Pure: specs in, dicts out.
"""

from __future__ import annotations

from typing import Any

from mlkube.targets.kubernetes import labels as lbl

WATCHER_NAME = "mlkube-registry-watcher"
KUBECONFIG_DIR = "/etc/mlkube/kubeconfig"
#: Where the node's Docker socket appears in the container (docker's default).
DOCKER_SOCKET = "/var/run/docker.sock"


def render_registry_watcher(*, namespace: str, image: str, workspace_secret: str,
                            kubeconfig_secret: str, interval_s: float,
                            endpoints: list[str] | None = None,
                            docker_socket: str | None = None) -> list[dict[str, Any]]:
    """The watcher's Deployment, watching ``endpoints`` (all of the workspace's if None),
    building with the engine behind the node's ``docker_socket`` if given."""
    meta_labels = {lbl.MANAGED_BY: lbl.MANAGER, lbl.NAME: WATCHER_NAME,
                   lbl.COMPONENT: "registry-watcher"}
    selector = {lbl.NAME: WATCHER_NAME}
    argv = ["mlkube", "watch-registry", "--interval", f"{interval_s:g}"]
    for endpoint in endpoints or []:
        argv += ["--endpoint", endpoint]
    container: dict[str, Any] = {
        "name": "watcher",
        "image": image,
        "command": argv,
        "envFrom": [{"secretRef": {"name": workspace_secret}}],
        "env": [{"name": "KUBECONFIG", "value": f"{KUBECONFIG_DIR}/config"},
                {"name": "PYTHONUNBUFFERED", "value": "1"}],
        "volumeMounts": [{"name": "kubeconfig", "mountPath": KUBECONFIG_DIR,
                          "readOnly": True}],
        "resources": {"requests": {"cpu": "50m", "memory": "256Mi"},
                      "limits": {"memory": "1Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    volumes: list[dict[str, Any]] = [{"name": "kubeconfig",
                                      "secret": {"secretName": kubeconfig_secret}}]
    if docker_socket:
        container["env"].append({"name": "DOCKER_HOST", "value": f"unix://{DOCKER_SOCKET}"})
        container["volumeMounts"].append({"name": "docker", "mountPath": DOCKER_SOCKET})
        container["securityContext"] = {"runAsUser": 0, "runAsGroup": 0,
                                        "allowPrivilegeEscalation": False}
        volumes.append({"name": "docker",
                        "hostPath": {"path": docker_socket, "type": "Socket"}})
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": WATCHER_NAME, "namespace": namespace, "labels": meta_labels},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": dict(meta_labels)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }
    return [deployment]
