"""The objects of one endpoint: its gateway, the gateway's config and keys, and its entry.

The gateway (``mlkube gateway run``) is the same program as on the local and docker
targets: the native engine when the gateway image carries it (``gateway.engine``), to
which that command hands over, else the Python one. Its config (traffic, mirror,
per-deployment Service URLs and request settings) is a ConfigMap and its keys a Secret,
both mounted as whole folders (never ``subPath``, which the kubelet does not refresh):
the gateway re-reads them when their content changes, so a traffic shift or a key
regeneration patches one object and restarts nothing. That is also why the gateway's pod
template carries no hash of its config.

Deployments that scale to zero are scaled by the gateway itself (the native engine's
``kubernetes.go``, or ``gateway/kubernetes_scaler.py``): its ServiceAccount is then bound
to a Role allowing only ``get``, ``patch`` and ``update`` on ``deployments/scale``, with
``resourceNames`` naming exactly those Deployments of this endpoint (``scale_access``).
With none, no Role is rendered (an empty ``resourceNames`` would mean every Deployment)
and the account is bound to nothing. The gateway's pod mounts its account's token either
way, so a deployment that starts scaling to zero needs no gateway restart.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mlkube import request_defaults
from mlkube.entities.deployment_settings import ProbeSettings
from mlkube.entities.elastic_scale import elastic_scale
from mlkube.entities.online_deployment import OnlineDeployment
from mlkube.entities.online_endpoint import OnlineEndpoint
from mlkube.gateway.auth import EndpointKeys, dump_endpoint_keys
from mlkube.gateway.config import (
    DeploymentRoute,
    GatewayConfig,
    ScaleToZero,
    dump_gateway_config,
)
from mlkube.targets.kubernetes import labels as lbl
from mlkube.targets.kubernetes.inference_manifests import service_url
from mlkube.targets.kubernetes.names import deployment_object_name, endpoint_object_name
from mlkube.targets.kubernetes.pod_spec import (
    container_security_context,
    drain_lifecycle,
    http_probe,
    pod_security_context,
    termination_grace_seconds,
    tmp_mount,
    tmp_volume,
    writable_home_env,
)

CONTAINER = "gateway"
GATEWAY_PORT = 8080
SERVICE_PORT = 80
CONFIG_DIR = "/etc/mlkube/gateway"
CONFIG_FILE = "config.json"
KEYS_DIR = "/etc/mlkube/keys"
KEYS_FILE = "keys.json"
#: Set on a Secret rendered without values, saying how they get there.
KEYS_ANNOTATION = "mlkube.io/keys"
KEYS_NOT_RENDERED = ("not rendered: `mlkube online-endpoint create` fills this Secret; for "
                     "GitOps create it from `mlkube k8s render --show-secrets` or your "
                     "secret store (key keys.json)")
GATEWAY_PROBE = ProbeSettings(initial_delay=0, period=5, timeout=2, failure_threshold=3)
#: Until the gateway first answers, it is starting, not failing: probed every second for a
#: minute (a start takes a second or two, more on a busy node), so liveness cannot kill a
#: slow start and readiness is judged only once it runs.
GATEWAY_STARTUP_PROBE = ProbeSettings(initial_delay=0, period=1, timeout=2,
                                      failure_threshold=60)
#: All the gateway may do with its scale-to-zero Deployments' scale subresource.
GATEWAY_SCALE_VERBS = ("get", "patch", "update")
GATEWAY_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"},
                     "limits": {"memory": "512Mi"}}

ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer"]
SERVICE_TYPES: tuple[str, ...] = ("ClusterIP", "NodePort", "LoadBalancer")


@dataclass(frozen=True)
class IngressSettings:
    """An Ingress in front of the gateway Service; TLS when ``tls_secret`` is given."""

    host: str
    tls_secret: str | None = None
    class_name: str | None = None


def gateway_config(endpoint: OnlineEndpoint, deployments: Sequence[OnlineDeployment], *,
                   namespace: str) -> GatewayConfig:
    """What the gateway routes: weights, mirror, and each deployment's Service."""
    routes = {}
    for deployment in sorted(deployments, key=lambda d: d.name):
        settings = deployment.request_settings
        url = service_url(endpoint.name, deployment.name, namespace=namespace)
        scale = elastic_scale(deployment.stored_spec())
        sleeps = scale is not None and scale.scale_to_zero_after_s is not None
        routes[deployment.name] = DeploymentRoute(
            name=deployment.name,
            # One Service balances over the pods; listing it once per possible pod gives
            # the gateway Azure ML's admission limit (max concurrent x instances).
            instances=(url,) * deployment.max_instances,
            request_timeout_ms=settings.request_timeout_ms,
            max_concurrent_requests_per_instance=settings.max_concurrent_requests_per_instance,
            max_queue_wait_ms=settings.max_queue_wait_ms,
            # Woken to instance_count; under an HPA to 1, and the HPA goes on from there.
            instance_count=(deployment.instance_count
                            if sleeps and scale is not None and not scale.autoscales
                            else None),
            scale_to_zero=ScaleToZero(
                after_s=float(scale.scale_to_zero_after_s or 0), held_limit=scale.held_limit,
                kubernetes_deployment=deployment_object_name(endpoint.name, deployment.name),
            ) if sleeps and scale is not None else None,
        )
    return GatewayConfig(
        endpoint=endpoint.name,
        auth_mode=endpoint.auth_mode,
        traffic=dict(sorted(endpoint.traffic.items())),
        mirror_traffic=dict(sorted(endpoint.mirror_traffic.items())),
        deployments=routes,
    )


def gateway_manifests(
    endpoint: OnlineEndpoint, deployments: Sequence[OnlineDeployment], *, namespace: str,
    image: str, keys: EndpointKeys | None, service_type: ServiceType = "ClusterIP",
    node_port: int | None = None, ingress: IngressSettings | None = None, replicas: int = 2,
) -> list[dict[str, Any]]:
    """Every object the endpoint's gateway needs, in apply order."""
    name = endpoint_object_name(endpoint.name)
    labels = lbl.object_labels(endpoint.name, instance=name)

    def meta(object_name: str) -> dict[str, Any]:
        return {"name": object_name, "namespace": namespace, "labels": labels}

    account = endpoint_object_name(endpoint.name, suffix="gateway")
    config_map = endpoint_object_name(endpoint.name, suffix="gateway")
    secret = endpoint_object_name(endpoint.name, suffix="keys")
    longest_ms = max((d.request_settings.request_timeout_ms for d in deployments),
                     default=request_defaults.REQUEST_TIMEOUT_MS)
    objects = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(account),
         "automountServiceAccountToken": False},
        _secret(meta(secret), keys),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(config_map),
         "data": {CONFIG_FILE: dump_gateway_config(
             gateway_config(endpoint, deployments, namespace=namespace))}},
        _service(meta(name), endpoint.name, service_type=service_type, node_port=node_port),
        _deployment(meta(name), endpoint.name, image=image, replicas=replicas,
                    account=account, config_map=config_map, secret=secret,
                    grace=termination_grace_seconds(longest_ms)),
    ]
    objects += scale_access(meta(account), account, sleeping_deployments(endpoint, deployments))
    if replicas > 1:
        objects.append({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta(name),
            "spec": {"maxUnavailable": 1,
                     "selector": {"matchLabels": lbl.selector_labels(endpoint.name)}},
        })
    if ingress is not None:
        objects.append(_ingress(meta(name), ingress, service=name))
    return objects


def sleeping_deployments(endpoint: OnlineEndpoint,
                         deployments: Sequence[OnlineDeployment]) -> list[str]:
    """The Kubernetes Deployments of ``endpoint`` that scale to zero, by name."""
    names = []
    for deployment in deployments:
        scale = elastic_scale(deployment.stored_spec())
        if scale is not None and scale.scale_to_zero_after_s is not None:
            names.append(deployment_object_name(endpoint.name, deployment.name))
    return sorted(names)


def scale_access(metadata: dict[str, Any], account: str,
                 names: Sequence[str]) -> list[dict[str, Any]]:
    """The gateway's Role and RoleBinding: the scale of ``names`` and nothing else; none
    when ``names`` is empty (no resourceNames would grant every Deployment's scale)."""
    if not names:
        return []
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": metadata,
         "rules": [{"apiGroups": ["apps"], "resources": ["deployments/scale"],
                    "resourceNames": list(names), "verbs": list(GATEWAY_SCALE_VERBS)}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": metadata,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": metadata["name"]},
         "subjects": [{"kind": "ServiceAccount", "name": account,
                       "namespace": metadata["namespace"]}]},
    ]


def _secret(metadata: dict[str, Any], keys: EndpointKeys | None) -> dict[str, Any]:
    secret: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata,
                              "type": "Opaque"}
    if keys is None:
        secret["metadata"] = {**metadata, "annotations": {KEYS_ANNOTATION: KEYS_NOT_RENDERED}}
        return secret
    # `data`, not `stringData`: server-side apply tracks ownership of what is stored.
    secret["data"] = {KEYS_FILE: base64.b64encode(dump_endpoint_keys(keys).encode()).decode()}
    return secret


def _service(metadata: dict[str, Any], endpoint: str, *, service_type: ServiceType,
             node_port: int | None) -> dict[str, Any]:
    port: dict[str, Any] = {"name": "http", "port": SERVICE_PORT, "targetPort": "http",
                            "protocol": "TCP"}
    if node_port is not None and service_type != "ClusterIP":
        port["nodePort"] = node_port
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata,
            "spec": {"type": service_type, "selector": lbl.selector_labels(endpoint),
                     "ports": [port]}}


def _deployment(metadata: dict[str, Any], endpoint: str, *, image: str, replicas: int,
                account: str, config_map: str, secret: str, grace: int) -> dict[str, Any]:
    container = {
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["mlkube"],
        "args": ["gateway", "run", "--config", f"{CONFIG_DIR}/{CONFIG_FILE}",
                 "--keys", f"{KEYS_DIR}/{KEYS_FILE}", "--host", "0.0.0.0",
                 "--port", str(GATEWAY_PORT)],
        "ports": [{"name": "http", "containerPort": GATEWAY_PORT, "protocol": "TCP"}],
        "env": writable_home_env(),
        "resources": GATEWAY_RESOURCES,
        "startupProbe": http_probe("/", GATEWAY_STARTUP_PROBE),
        "livenessProbe": http_probe("/", GATEWAY_PROBE),
        "readinessProbe": http_probe("/", GATEWAY_PROBE),
        "lifecycle": drain_lifecycle(),
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "keys", "mountPath": KEYS_DIR, "readOnly": True},
            tmp_mount(),
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": lbl.selector_labels(endpoint)},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": metadata["labels"]},
                "spec": {
                    "serviceAccountName": account,
                    # Bound to nothing, or to the scale of its own scale-to-zero
                    # Deployments (scale_access): the gateway scales those itself.
                    "automountServiceAccountToken": True,
                    "enableServiceLinks": False,
                    "securityContext": pod_security_context(),
                    "terminationGracePeriodSeconds": grace,
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": config_map}},
                        # 0440 + fsGroup: readable by the gateway's user, no one else.
                        {"name": "keys", "secret": {"secretName": secret, "defaultMode": 0o440}},
                        tmp_volume(),
                    ],
                },
            },
        },
    }


def _ingress(metadata: dict[str, Any], ingress: IngressSettings, *,
             service: str) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if ingress.class_name:
        spec["ingressClassName"] = ingress.class_name
    if ingress.tls_secret:
        spec["tls"] = [{"hosts": [ingress.host], "secretName": ingress.tls_secret}]
    spec["rules"] = [{"host": ingress.host, "http": {"paths": [{
        "path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": service, "port": {"name": "http"}}},
    }]}}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata,
            "spec": spec}
