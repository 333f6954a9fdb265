"""The cluster as mlkube's state store: what the target writes on objects and reads back.

Nothing about a Kubernetes endpoint is kept on this machine. The gateway's ConfigMap
carries the endpoint's spec (so a traffic update is one apply of that one object), the
gateway Deployment the settings it was exposed with; each inference-server
Deployment carries its deployment's spec, the image layout it was built with and what
preparation did. ``list`` / ``get`` on any machine with the kubeconfig rebuild the same
entities from them, and a traffic update re-renders the gateway's ConfigMap from them
without rebuilding anything.

Pure functions on plain dicts: annotate, read back, choose what to apply or prune, and
find the scoring URI in the gateway's Service or Ingress.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlkube.entities.container_layout import ContainerLayout
from mlkube.entities.online_deployment import OnlineDeployment
from mlkube.entities.online_endpoint import OnlineEndpoint
from mlkube.errors import ValidationError
from mlkube.targets.kubernetes import labels as lbl
from mlkube.targets.kubernetes.gateway_manifests import (
    SERVICE_PORT,
    SERVICE_TYPES,
    IngressSettings,
    ServiceType,
)

ENDPOINT_SPEC = "mlkube.io/endpoint-spec"
DEPLOYMENT_SPEC = "mlkube.io/deployment-spec"
LAYOUT = "mlkube.io/layout"
NOTES = "mlkube.io/preparation-notes"
#: Why the last rollout of a Deployment failed, and a digest of the pod template that
#: failed: what ``get`` shows as ``provisioning_error`` later, on any machine, as long as
#: that template is still the one not running. (Not the generation: a Deployment's
#: generation also moves when its annotations change, this one included.)
ROLLOUT_FAILURE = "mlkube.io/rollout-failure"
OPTIONS = "mlkube.io/endpoint-options"
#: Endpoint ``properties`` that choose how the gateway is exposed (Azure ML has no field
#: for it; properties are its free-form settings, so YAML stays Azure-shaped).
PROPERTY_PREFIX = "mlkube.io/"


@dataclass(frozen=True)
class EndpointOptions:
    """How an endpoint's gateway is exposed and sized."""

    service_type: ServiceType = "LoadBalancer"
    node_port: int | None = None
    ingress: IngressSettings | None = None
    gateway_replicas: int = 2

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EndpointOptions:
        data = json.loads(text)
        ingress = data.get("ingress")
        return cls(service_type=data.get("service_type", "LoadBalancer"),
                   node_port=data.get("node_port"),
                   ingress=IngressSettings(**ingress) if ingress else None,
                   gateway_replicas=int(data.get("gateway_replicas", 2)))


def endpoint_options(endpoint: OnlineEndpoint) -> EndpointOptions:
    """The options an endpoint's ``properties`` ask for (``mlkube.io/service-type``,
    ``mlkube.io/node-port``, ``mlkube.io/ingress-host``, ``mlkube.io/tls-secret``,
    ``mlkube.io/ingress-class``, ``mlkube.io/gateway-replicas``); defaults otherwise."""
    props = {k.removeprefix(PROPERTY_PREFIX): v for k, v in endpoint.properties.items()
             if k.startswith(PROPERTY_PREFIX)}
    service_type = props.get("service-type", "LoadBalancer")
    if service_type not in SERVICE_TYPES:
        raise ValidationError(
            f"Endpoint {endpoint.name}: properties.mlkube.io/service-type is "
            f"{service_type!r}.", hint=f"Use one of {', '.join(SERVICE_TYPES)}.")
    host = props.get("ingress-host")
    if props.get("tls-secret") and not host:
        raise ValidationError(
            f"Endpoint {endpoint.name} names a TLS secret but no ingress host.",
            hint="Add properties.mlkube.io/ingress-host: the host name clients use.")
    return EndpointOptions(
        service_type=service_type,  # type: ignore[arg-type]
        node_port=_int(props.get("node-port"), "node-port", endpoint.name),
        ingress=IngressSettings(host=host, tls_secret=props.get("tls-secret"),
                                class_name=props.get("ingress-class")) if host else None,
        gateway_replicas=_int(props.get("gateway-replicas"), "gateway-replicas",
                              endpoint.name) or 2,
    )


def _int(value: str | None, key: str, endpoint: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(str(value))
    except ValueError:
        raise ValidationError(f"Endpoint {endpoint}: properties.mlkube.io/{key} is "
                              f"{value!r}, not a whole number.",
                              hint="Give a number, e.g. 30080.") from None


# --- writing state onto objects ------------------------------------------------------------


def annotate(manifests: Sequence[dict[str, Any]], *, kind: str, name: str,
             annotations: Mapping[str, str]) -> list[dict[str, Any]]:
    """``manifests`` with ``annotations`` added to the object ``kind``/``name``."""
    result = []
    for manifest in manifests:
        metadata = manifest.get("metadata") or {}
        if manifest["kind"] == kind and metadata.get("name") == name:
            manifest = {**manifest, "metadata": {
                **metadata, "annotations": {**(metadata.get("annotations") or {}),
                                            **annotations}}}
        result.append(manifest)
    return result


def layout_json(layout: ContainerLayout) -> str:
    return json.dumps(dataclasses.asdict(layout), sort_keys=True)


def select(manifests: Iterable[Mapping[str, Any]], *, kinds: Iterable[str] | None = None,
           labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The manifests of ``kinds`` whose labels include ``labels``."""
    wanted_kinds = set(kinds) if kinds is not None else None
    chosen = []
    for manifest in manifests:
        object_labels = (manifest.get("metadata") or {}).get("labels") or {}
        if wanted_kinds is not None and manifest["kind"] not in wanted_kinds:
            continue
        if labels and any(object_labels.get(k) != v for k, v in labels.items()):
            continue
        chosen.append(dict(manifest))
    return chosen


def stale_objects(existing: Iterable[Mapping[str, Any]],
                  desired: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Objects that exist but are no longer rendered (an HPA after switching to fixed
    instances, an Ingress after removing its host): apply does not delete them."""
    keep = {(m["kind"], m["metadata"]["name"]) for m in desired}
    return [m for m in existing if (m["kind"], m["metadata"]["name"]) not in keep]


# --- reading state back ---------------------------------------------------------------------


def _annotation(obj: Mapping[str, Any], key: str) -> str | None:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(key)


def read_endpoint(config_map: Mapping[str, Any]) -> OnlineEndpoint:
    """The endpoint its gateway ConfigMap carries."""
    text = _annotation(config_map, ENDPOINT_SPEC)
    name = (config_map.get("metadata") or {}).get("labels", {}).get(lbl.ENDPOINT, "?")
    if not text:
        raise ValidationError(
            f"The gateway of endpoint {name} carries no mlkube spec ({ENDPOINT_SPEC}).",
            hint="It was not created by mlkube (or by an older one): delete it and create "
                 "the endpoint with mlkube.")
    return OnlineEndpoint.from_dict(json.loads(text), source=f"cluster endpoint {name}")


def read_options(gateway: Mapping[str, Any]) -> EndpointOptions:
    text = _annotation(gateway, OPTIONS)
    return EndpointOptions.from_json(text) if text else EndpointOptions()


def read_deployment(server: Mapping[str, Any]) -> OnlineDeployment:
    """The deployment an inference-server Deployment carries."""
    text = _annotation(server, DEPLOYMENT_SPEC)
    labels = (server.get("metadata") or {}).get("labels") or {}
    name = labels.get(lbl.DEPLOYMENT, "?")
    if not text:
        raise ValidationError(
            f"Deployment {name} in the cluster carries no mlkube spec ({DEPLOYMENT_SPEC}).",
            hint="Delete it and create the deployment with mlkube.")
    return OnlineDeployment.from_dict(json.loads(text), source=f"cluster deployment {name}")


def read_layout(server: Mapping[str, Any]) -> ContainerLayout | None:
    text = _annotation(server, LAYOUT)
    return ContainerLayout(**json.loads(text)) if text else None


def rollout_failure_annotations(workload: Mapping[str, Any], *, cause: str,
                                fix: str | None) -> dict[str, str]:
    """The annotation recording that ``workload``'s current spec failed to roll out, with
    the cause and fix the user was told. mlkube's applies do not render it (they own
    other fields), so it stays until the pod template changes or the pods run."""
    return {ROLLOUT_FAILURE: json.dumps({"template": _template_digest(workload),
                                         "cause": cause, "fix": fix or ""})}


def _template_digest(workload: Mapping[str, Any]) -> str:
    template = (workload.get("spec") or {}).get("template") or {}
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:16]


def rollout_failure(workload: Mapping[str, Any]) -> str | None:
    """The recorded failure of ``workload``'s current pod template ("cause Hint: fix"),
    or None when none is recorded or the template changed since. Whether the pods run
    now is the caller's to judge (its provisioning state)."""
    text = _annotation(workload, ROLLOUT_FAILURE)
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if record.get("template") != _template_digest(workload):
        return None
    fix = record.get("fix")
    return f"{record.get('cause', '')}" + (f" Hint: {fix}" if fix else "")


def read_notes(server: Mapping[str, Any]) -> str:
    return _annotation(server, NOTES) or ""


def container_image(server: Mapping[str, Any], container: str) -> str | None:
    pod = ((server.get("spec") or {}).get("template") or {}).get("spec") or {}
    return next((c.get("image") for c in pod.get("containers") or []
                 if c.get("name") == container), None)


def provisioning_state(workload: Mapping[str, Any], *, autoscaled_floor: int | None = None
                       ) -> str:
    """Azure ML's provisioning state of a Deployment: Succeeded when every wanted pod of
    the current revision is available, Updating while it rolls out, Failed when stuck.

    ``autoscaled_floor``: an autoscaler owns the replica count and never goes below this.
    Pods it adds above the floor are scaling, not an update (Azure ML stays Succeeded
    while it autoscales; ``show`` tells the scaling by current < desired instances): once
    the floor's pods of the current revision are available and no older pod is left,
    the deployment is Succeeded."""
    spec, status = workload.get("spec") or {}, workload.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get(
                "reason") == "ProgressDeadlineExceeded":
            return "Failed"
    wanted = spec.get("replicas", 1)
    if autoscaled_floor is not None:
        wanted = min(wanted, autoscaled_floor)
    if ((workload.get("metadata") or {}).get("generation", 0) <= status.get(
            "observedGeneration", 0)
            and status.get("updatedReplicas", 0) >= wanted
            and status.get("availableReplicas", 0) >= wanted
            and status.get("replicas", 0) <= status.get("updatedReplicas", 0)):
        return "Succeeded"
    return "Updating"


def scoring_uri(service: Mapping[str, Any] | None, ingress: Mapping[str, Any] | None, *,
                node_host: str | None = None) -> str | None:
    """Where clients reach the gateway, or None while the cluster has not assigned it.

    An Ingress wins (https with TLS); then a LoadBalancer's address; a NodePort on
    ``node_host`` (any node, e.g. the API server's host on single-node clusters); a
    ClusterIP Service's in-cluster name, reachable from inside the cluster only.
    """
    if ingress is not None:
        spec = ingress.get("spec") or {}
        tls = bool(spec.get("tls"))
        rules = spec.get("rules") or []
        host = rules[0].get("host") if rules else None
        if not host:
            host = _lb_address(ingress)
        return f"{'https' if tls else 'http'}://{host}/score" if host else None
    if service is None:
        return None
    spec = service.get("spec") or {}
    port: Mapping[str, Any] = next(
        (p for p in spec.get("ports") or [] if p.get("name") == "http"), {})
    service_type = spec.get("type", "ClusterIP")
    if service_type == "LoadBalancer":
        address = _lb_address(service)
        if address:
            number = port.get("port", SERVICE_PORT)
            return f"http://{address}{'' if number == 80 else f':{number}'}/score"
        if not port.get("nodePort") or not node_host:
            return None
    if service_type in ("NodePort", "LoadBalancer") and port.get("nodePort") and node_host:
        return f"http://{node_host}:{port['nodePort']}/score"
    metadata = service.get("metadata") or {}
    return (f"http://{metadata.get('name')}.{metadata.get('namespace')}.svc.cluster.local"
            f":{port.get('port', SERVICE_PORT)}/score")


def _lb_address(obj: Mapping[str, Any]) -> str | None:
    entries = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    for entry in entries:
        address = entry.get("hostname") or entry.get("ip")
        if address:
            return f"[{address}]" if ":" in address else address
    return None
