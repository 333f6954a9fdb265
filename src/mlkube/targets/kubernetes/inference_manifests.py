"""The objects of one online deployment: Deployment, Service, and HPA / PDB when they apply.

The pod runs the deployment's image exactly as the docker target runs it: ``mlkube serve
--host 0.0.0.0`` with the Azure ML variables of its ``ContainerLayout`` and the user's
``environment_variables``, the model and code baked in under ``/var/azureml-app``.
Probes come from the deployment's probe settings: a startup probe carries liveness's
initial delay and failure budget (so a slow model load is not killed), then liveness
(``GET /v2/health/live``) and readiness (``GET /ready``, 200 once the model is loaded)
take over. Requests and limits are ``sizing``'s: the deployment's ``resources``, else its
``instance_type``, else a small default.
"""

from __future__ import annotations

from typing import Any

from mlkube.entities.container_layout import SERVER_PORT, ContainerLayout
from mlkube.entities.deployment_settings import TargetUtilizationScaleSettings
from mlkube.entities.online_deployment import OnlineDeployment
from mlkube.errors import ValidationError
from mlkube.targets.kubernetes import labels as lbl
from mlkube.targets.kubernetes.names import deployment_object_name
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
from mlkube.targets.kubernetes.sizing import container_resources, pod_resources

CONTAINER = "inference-server"
#: Always 200 while the server process is up (``GET /`` waits for the model, as Azure's).
LIVENESS_PATH = "/v2/health/live"
READINESS_PATH = "/ready"
POLLING_INTERVAL_ANNOTATION = "mlkube.io/polling-interval-seconds"


def inference_manifests(endpoint: str, deployment: OnlineDeployment, *, namespace: str,
                        image: str, layout: ContainerLayout) -> list[dict[str, Any]]:
    """Every object one deployment needs, in apply order."""
    name = deployment_object_name(endpoint, deployment.name)
    labels = lbl.object_labels(endpoint, deployment.name, instance=name)
    metadata = {"name": name, "namespace": namespace, "labels": labels}
    objects = [
        _deployment(endpoint, deployment, metadata=metadata, image=image, layout=layout),
        _service(endpoint, deployment, metadata=metadata),
    ]
    if isinstance(deployment.scale_settings, TargetUtilizationScaleSettings):
        objects.append(_autoscaler(deployment.scale_settings, metadata=metadata))
    if deployment.max_instances > 1:
        objects.append(_disruption_budget(endpoint, deployment, metadata=metadata))
    return objects


def service_url(endpoint: str, deployment: str, *, namespace: str) -> str:
    """The in-cluster URL the gateway sends a deployment's requests to."""
    return f"http://{deployment_object_name(endpoint, deployment)}.{namespace}.svc:{SERVER_PORT}"


def _deployment(endpoint: str, deployment: OnlineDeployment, *, metadata: dict[str, Any],
                image: str, layout: ContainerLayout) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if not isinstance(deployment.scale_settings, TargetUtilizationScaleSettings):
        # With an HPA the replica count is the autoscaler's; applying one would fight it.
        spec["replicas"] = deployment.instance_count
    spec.update({
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": lbl.selector_labels(endpoint, deployment.name)},
        # A new pod must be ready before an old one goes: rollouts never drop capacity.
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": metadata["labels"]},
            "spec": {
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "securityContext": pod_security_context(),
                "terminationGracePeriodSeconds": termination_grace_seconds(
                    deployment.request_settings.request_timeout_ms),
                "containers": [_container(deployment, image=image, layout=layout)],
                "volumes": [tmp_volume()],
            },
        },
    })
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def _container(deployment: OnlineDeployment, *, image: str,
               layout: ContainerLayout) -> dict[str, Any]:
    liveness, readiness = deployment.liveness_probe, deployment.readiness_probe
    startup_budget = liveness.model_copy(update={"success_threshold": 1})
    return {
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["mlkube"],
        "args": ["serve", "--host", "0.0.0.0"],
        "ports": [{"name": "http", "containerPort": SERVER_PORT, "protocol": "TCP"}],
        "env": _environment(deployment, layout),
        "resources": _resources(deployment),
        "startupProbe": http_probe(LIVENESS_PATH, startup_budget),
        "livenessProbe": http_probe(LIVENESS_PATH, liveness, initial_delay=0),
        "readinessProbe": http_probe(
            READINESS_PATH, readiness,
            initial_delay=max(0, readiness.initial_delay - liveness.initial_delay)),
        "lifecycle": drain_lifecycle(),
        "securityContext": container_security_context(),
        "volumeMounts": [tmp_mount()],
    }


def _environment(deployment: OnlineDeployment,
                 layout: ContainerLayout) -> list[dict[str, str]]:
    values = layout.environment()
    values.update({item["name"]: item["value"] for item in writable_home_env()})
    # The server gives up where the gateway gives up, so no work outlives its caller.
    values["SCORING_TIMEOUT_MS"] = str(deployment.request_settings.request_timeout_ms)
    # The user's variables win, as in Azure ML (e.g. MLFLOW_MODEL_FOLDER).
    values.update(deployment.environment_variables)
    return [{"name": name, "value": value} for name, value in values.items()]


def _resources(deployment: OnlineDeployment) -> dict[str, Any]:
    result = container_resources(pod_resources(deployment))
    cpu_given = any("cpu" in result.get(part, {}) for part in ("requests", "limits"))
    if isinstance(deployment.scale_settings, TargetUtilizationScaleSettings) and not cpu_given:
        raise ValidationError(
            f"Deployment {deployment.name!r} scales on CPU utilization "
            "(scale_settings.type: target_utilization) but sets no resources.requests.cpu; "
            "the autoscaler measures utilization against that request.",
            hint="Add resources: {requests: {cpu: \"500m\"}} (or any CPU request) or an "
                 "instance_type to the deployment, or use scale_settings.type: default.",
        )
    return result


def _service(endpoint: str, deployment: OnlineDeployment, *,
             metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "type": "ClusterIP",
            "selector": lbl.selector_labels(endpoint, deployment.name),
            "ports": [{"name": "http", "port": SERVER_PORT, "targetPort": "http",
                       "protocol": "TCP"}],
        },
    }


def autoscaler_floor(scale: TargetUtilizationScaleSettings) -> int:
    """The HPA's minReplicas. An HPA never goes below 1: at min_instances 0 the gateway
    scales the Deployment to 0 when idle and back to 1, and the HPA rests while it is
    at 0."""
    return max(1, scale.min_instances)


def _autoscaler(scale: TargetUtilizationScaleSettings, *,
                metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        # Kubernetes polls metrics at a cluster-wide period; the setting is kept for readers.
        "metadata": {**metadata, "annotations": {
            POLLING_INTERVAL_ANNOTATION: str(scale.polling_interval)}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "name": metadata["name"]},
            "minReplicas": autoscaler_floor(scale),
            "maxReplicas": scale.max_instances,
            # mlkube's delays are the HPA's stabilization windows (how long a
            # recommendation must hold before it acts).
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": round(scale.scale_up_delay_s)},
                "scaleDown": {"stabilizationWindowSeconds": round(scale.scale_down_delay_s)},
            },
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu",
                "target": {"type": "Utilization",
                           "averageUtilization": scale.target_utilization_percentage},
            }}],
        },
    }


def _disruption_budget(endpoint: str, deployment: OnlineDeployment, *,
                       metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata,
        # maxUnavailable (not minAvailable) never blocks a node drain when one pod is left.
        "spec": {"maxUnavailable": 1,
                 "selector": {"matchLabels": lbl.selector_labels(endpoint, deployment.name)}},
    }
