"""``KubernetesTarget``: online endpoints and deployments on an attached cluster.

The same ``Target`` protocol as the local and docker targets, so operations never look
inside. What it does per call:

- renders every object with the pure renderer (``render_manifests``), adds the state the
  cluster must carry (``state``), and server-side applies only what the call changes:
  a traffic update patches the gateway's ConfigMap alone, a key regeneration its Secret;
- builds the deployment's image exactly as the docker target does, pushes it to the
  compute's registry and pins pods to its digest (``images``);
- waits for rollouts by reading pods and events on every poll (``rollout``), so a failure
  ends the wait at once with its cause and a fix;
- reads endpoints, deployments, keys and logs back from the cluster, and deletes exactly
  the objects labelled with the endpoint (and deployment).

All I/O goes through ``cluster.Cluster``; the Docker engine through ``targets.docker.engine``.

Its length is the ``Target`` protocol's: one short method per operation on endpoints,
keys and deployments, each a few calls into the pure modules named above.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlkube.entities.compute import KubernetesCompute
from mlkube.entities.container_layout import ContainerLayout
from mlkube.entities.deployment_settings import TargetUtilizationScaleSettings
from mlkube.entities.online_deployment import OnlineDeployment
from mlkube.entities.online_endpoint import OnlineEndpoint
from mlkube.errors import (
    DeploymentFailedError,
    MlkubeError,
    ResourceNotFoundError,
    TargetError,
)
from mlkube.gateway.auth import (
    EndpointKeys,
    dump_endpoint_keys,
    generate_keys,
    load_endpoint_keys,
    regenerate_key,
)
from mlkube.targets.base import ContainerType, PreparedDeployment, Progress
from mlkube.targets.docker.build import deployment_layout
from mlkube.targets.kubernetes import labels as lbl
from mlkube.targets.kubernetes import state
from mlkube.targets.kubernetes.cluster import Cluster, LazyCluster
from mlkube.targets.kubernetes.gateway_manifests import CONTAINER as GATEWAY_CONTAINER
from mlkube.targets.kubernetes.gateway_manifests import KEYS_FILE
from mlkube.targets.kubernetes.gateway_replicas import serving_replicas, wait_until_applied
from mlkube.targets.kubernetes.images import (
    check_registry,
    publish_deployment_image,
    publish_gateway_image,
)
from mlkube.targets.kubernetes.inference_manifests import CONTAINER as INFERENCE_CONTAINER
from mlkube.targets.kubernetes.inference_manifests import autoscaler_floor
from mlkube.targets.kubernetes.names import deployment_object_name, endpoint_object_name
from mlkube.targets.kubernetes.render import render_manifests
from mlkube.targets.kubernetes.rollout import (
    current_pods,
    current_replica_sets,
    pods_needing_logs,
    read_rollout,
)
from mlkube.targets.kubernetes.sizing import with_instance_resources

GATEWAY_KINDS = ("ServiceAccount", "Secret", "ConfigMap", "Service", "Deployment",
                 "PodDisruptionBudget", "Ingress")
DEPLOYMENT_KINDS = ("Service", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget")
#: Seconds between rollout polls, and the longest a rollout may take beyond its probes'
#: own budget (image pulls of a few GB on a fresh node).
POLL_SECONDS = 2.0
PULL_MARGIN_SECONDS = 600
#: Polls a crash verdict may wait for the crashed container's log to be readable.
CRASH_LOG_POLLS = 5
#: How long a recorded failure waits for the Deployment's controller to observe it.
FAILURE_OBSERVED_SECONDS = 10.0
#: How long a changed ConfigMap / Secret may take to reach the gateway's mounted files
#: (the kubelet's sync period plus its cache TTL, one minute each by default).
PROPAGATION_SECONDS = 150
_GATEWAY_COMPONENT = f"{lbl.MANAGED_BY}={lbl.MANAGER},{lbl.COMPONENT}={lbl.GATEWAY}"


class KubernetesTarget:
    """Endpoints on one attached Kubernetes compute (its namespace and registry)."""

    kind = "kubernetes"

    def __init__(self, compute: KubernetesCompute, *,
                 cluster_factory: Callable[[], Cluster] | None = None,
                 engine_factory: Callable[[], Any] | None = None,
                 server_wheel: Path | None = None, ca_bundle: Path | None = None,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.compute = compute
        self._cluster = LazyCluster(compute, cluster_factory)
        self._engine_factory = engine_factory
        self._server_wheel = server_wheel
        #: Trusted by pip during image builds (``targets.docker.build.build_ca_bundle``).
        self.ca_bundle = ca_bundle
        self._poll_seconds = poll_seconds

    @property
    def cluster(self) -> Cluster:
        return self._cluster.get()

    @property
    def namespace(self) -> str:
        return self.compute.namespace

    # --- endpoints -------------------------------------------------------------------------

    def apply_endpoint(self, endpoint: OnlineEndpoint, *, progress: Progress) -> OnlineEndpoint:
        gateway = self.cluster.get("Deployment", endpoint_object_name(endpoint.name))
        previous = self._endpoint(endpoint.name) if gateway is not None else None
        spec = endpoint.stored_spec(previous=previous)
        stored = OnlineEndpoint.from_dict(spec, source=f"endpoint {endpoint.name}")
        deployments = self._deployments(endpoint.name)
        stored.check_traffic_names(deployments)
        if gateway is None:
            self._create_endpoint(stored, progress=progress)
        else:
            progress(f"updating endpoint {endpoint.name}: traffic {stored.traffic or '{}'}, "
                     f"mirror {stored.mirror_traffic or '{}'}")
            self._apply_gateway_config(stored, deployments, gateway=gateway, progress=progress)
        return self.get_endpoint(endpoint.name)

    def _create_endpoint(self, endpoint: OnlineEndpoint, *, progress: Progress) -> None:
        options = state.endpoint_options(endpoint)
        registry = check_registry(self.compute.registry)
        progress(f"creating endpoint {endpoint.name} in namespace {self.namespace}")
        gateway_image = publish_gateway_image(
            self._engine(), registry=registry, server_wheel=self._wheel(),
            ca_bundle=self.ca_bundle, progress=progress)
        manifests = render_manifests(
            endpoint, [], namespace=self.namespace,
            gateway_image=gateway_image.digest_reference, registry=registry,
            service_type=options.service_type, node_port=options.node_port,
            ingress=options.ingress, keys=generate_keys(),
            gateway_replicas=options.gateway_replicas)
        manifests = state.annotate(
            manifests, kind="Deployment", name=endpoint_object_name(endpoint.name),
            annotations={state.OPTIONS: options.to_json()})
        manifests = _with_endpoint_spec(manifests, endpoint)
        for manifest in manifests:
            progress(f"applying {manifest['kind']} {manifest['metadata']['name']}")
            self.cluster.apply(manifest)
        self._wait(endpoint_object_name(endpoint.name), endpoint=endpoint.name, deployment=None,
                   container=GATEWAY_CONTAINER, budget_s=PULL_MARGIN_SECONDS,
                   progress=progress)

    def _apply_gateway_config(self, endpoint: OnlineEndpoint,
                              deployments: Mapping[str, Mapping[str, Any]], *,
                              gateway: Mapping[str, Any], progress: Progress) -> None:
        """Patch the gateway's ConfigMap (routes, traffic, mirror) and record the spec on
        the gateway Deployment; the gateway re-reads the mounted file, restarting nothing."""
        entities = [state.read_deployment(d) for d in deployments.values()]
        manifests = render_manifests(
            endpoint, entities, namespace=self.namespace,
            images={n: state.container_image(d, INFERENCE_CONTAINER) or ""
                    for n, d in deployments.items()},
            layouts={n: layout for n, d in deployments.items()
                     if (layout := state.read_layout(d)) is not None},
            gateway_image=state.container_image(gateway, GATEWAY_CONTAINER))
        # The ConfigMap alone changes (routes, traffic, mirror, and the endpoint's spec in
        # an annotation): the gateway re-reads the mounted file and nothing restarts.
        (config_map,) = state.select(_with_endpoint_spec(manifests, endpoint),
                                     kinds=["ConfigMap"])
        self._apply_scale_access(manifests, endpoint.name, progress=progress)
        progress(f"patching ConfigMap {config_map['metadata']['name']} (traffic and routes)")
        self.cluster.apply(config_map)
        self._wait_for_config(endpoint.name, config_map, progress=progress)

    def _wait_for_config(self, name: str, config_map: Mapping[str, Any], *,
                         progress: Progress) -> None:
        """Return once every gateway pod serves the new config (its ``GET /`` reports the
        config's digest), when the gateway is reachable from this machine."""
        from mlkube.gateway.config import load_gateway_config

        text = next(iter((config_map.get("data") or {}).values()), "")
        digest = load_gateway_config(text, source="rendered gateway config").digest

        self._wait_for_gateway(
            name, lambda health: health.get("config_digest") == digest,
            what="the new traffic and routes", progress=progress)

    def _wait_for_gateway(self, name: str, shows: Callable[[Mapping[str, Any]], bool], *,
                          what: str, progress: Progress) -> None:
        """Return once every gateway replica serves the change (``gateway_replicas``),
        when the gateway is reachable from this machine."""
        uri = self._scoring_uri(name)
        if uri is None or ".svc.cluster.local" in uri:
            progress(f"the gateway is not reachable from this machine; it applies {what} "
                     f"within about {PROPAGATION_SECONDS // 60} minutes")
            return
        pending = wait_until_applied(
            uri.removesuffix("/score"), shows, lambda: self._serving_gateway_replicas(name),
            what=what, within_s=PROPAGATION_SECONDS, progress=progress)
        if pending is not None:
            raise TargetError(
                f"The gateway of endpoint {name} did not apply {what} within "
                f"{PROPAGATION_SECONDS}s"
                + (f" (not yet on {', '.join(pending)})." if pending else "."),
                hint=f"Check its pods and log: `kubectl logs -n {self.namespace} -l "
                     f"{lbl.ENDPOINT}={name},{lbl.COMPONENT}={lbl.GATEWAY}`.")

    def _serving_gateway_replicas(self, name: str) -> frozenset[str] | None:
        """The gateway pods clients reach now, or None without the right to list pods."""
        try:
            pods = self.cluster.list_objects(
                "Pod", selector=f"{lbl.ENDPOINT}={name},{lbl.COMPONENT}={lbl.GATEWAY}")
        except TargetError:
            return None
        return serving_replicas(pods)

    def get_endpoint(self, name: str) -> OnlineEndpoint:
        gateway = self._gateway(name)
        endpoint = self._endpoint(name)
        uri = self._scoring_uri(name)
        endpoint.scoring_uri = uri
        endpoint.openapi_uri = uri.removesuffix("/score") + "/swagger.json" if uri else None
        endpoint.provisioning_state = state.provisioning_state(gateway)
        return endpoint

    def list_endpoints(self) -> list[OnlineEndpoint]:
        found = []
        for gateway in self.cluster.list_objects("Deployment", selector=_GATEWAY_COMPONENT):
            name = gateway["metadata"]["labels"].get(lbl.ENDPOINT)
            if name:
                try:
                    found.append(self.get_endpoint(name))
                except ResourceNotFoundError:
                    continue  # deleted meanwhile
        return found

    def delete_endpoint(self, name: str, *, progress: Progress) -> None:
        self._gateway(name)
        objects = self.cluster.list_managed(lbl.endpoint_selector(name))
        progress(f"deleting {len(objects)} object(s) of endpoint {name}")
        for deleted in self.cluster.delete_objects(objects):
            progress(f"deleted {deleted}")

    def scoring_uri(self, name: str) -> str:
        self._gateway(name)
        uri = self._scoring_uri(name)
        if uri is None:
            raise TargetError(
                f"Endpoint {name} has no address yet: its LoadBalancer Service is pending.",
                hint="Wait for the cloud to assign one (`kubectl get svc -n "
                     f"{self.namespace}`), or expose the endpoint with properties "
                     "mlkube.io/service-type: NodePort or an mlkube.io/ingress-host.")
        return uri

    def _scoring_uri(self, name: str) -> str | None:
        service = self.cluster.get("Service", endpoint_object_name(name))
        ingress = self.cluster.get("Ingress", endpoint_object_name(name))
        return state.scoring_uri(service, ingress, node_host=_host(self.cluster.server))

    def endpoint_keys(self, name: str) -> EndpointKeys:
        secret = self.cluster.get("Secret", endpoint_object_name(name, suffix="keys"))
        data = (secret or {}).get("data") or {}
        if KEYS_FILE not in data:
            raise ResourceNotFoundError(
                f"Endpoint {name} has no keys in the cluster (Secret "
                f"{endpoint_object_name(name, suffix='keys')} is missing or empty).",
                hint="Regenerate them: `mlkube online-endpoint regenerate-keys -n "
                     f"{name} --key-type primary` (and secondary).")
        return load_endpoint_keys(base64.b64decode(data[KEYS_FILE]).decode(),
                                  source=f"Secret of endpoint {name}")

    def regenerate_key(self, name: str, key_type: str, *, progress: Progress) -> None:
        self._gateway(name)
        try:
            keys = self.endpoint_keys(name)
        except ResourceNotFoundError:
            keys = generate_keys()
        keys = regenerate_key(keys, key_type)
        secret_name = endpoint_object_name(name, suffix="keys")
        self.cluster.apply({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": secret_name, "namespace": self.namespace,
                         "labels": lbl.object_labels(name, instance=endpoint_object_name(
                             name))},
            "data": {KEYS_FILE: base64.b64encode(dump_endpoint_keys(keys).encode()).decode()},
        })
        progress(f"regenerated the {key_type} key")

        fingerprint = keys.fingerprint
        self._wait_for_gateway(
            name, lambda health: health.get("keys_fingerprint") == fingerprint,
            what=f"the new {key_type} key", progress=progress)

    # --- deployments -----------------------------------------------------------------------

    def apply_deployment(self, deployment: OnlineDeployment, prepared: PreparedDeployment, *,
                         progress: Progress) -> OnlineDeployment:
        endpoint_name = deployment.endpoint_name or ""
        deployment = with_instance_resources(deployment)  # kept with the spec, for `show`
        gateway = self._gateway(endpoint_name)
        endpoint = self._endpoint(endpoint_name)
        registry = check_registry(self.compute.registry)
        image = publish_deployment_image(
            self._engine(), prepared, endpoint=endpoint_name, deployment=deployment.name,
            registry=registry, server_wheel=self._wheel(), ca_bundle=self.ca_bundle,
            progress=progress)
        layout = deployment_layout(prepared)
        others = {n: d for n, d in self._deployments(endpoint_name).items()
                  if n != deployment.name}
        manifests = _with_endpoint_spec(
            self._render_with(endpoint, deployment, others, gateway=gateway,
                              image=image.digest_reference, layout=layout), endpoint)
        name = deployment_object_name(endpoint_name, deployment.name)
        spec = deployment.stored_spec()
        manifests = state.annotate(manifests, kind="Deployment", name=name, annotations={
            state.DEPLOYMENT_SPEC: json.dumps(spec, sort_keys=True),
            state.LAYOUT: state.layout_json(layout),
            state.NOTES: "\n".join(prepared.notes)})
        own = state.select(manifests, kinds=DEPLOYMENT_KINDS,
                           labels={lbl.DEPLOYMENT: deployment.name})
        existing = self.cluster.list_managed(_deployment_selector(endpoint_name,
                                                                  deployment.name))
        for manifest in own:
            progress(f"applying {manifest['kind']} {manifest['metadata']['name']}")
            self.cluster.apply(manifest)
        for stale in self.cluster.delete_objects(state.stale_objects(existing, own)):
            progress(f"deleted {stale}, which the deployment no longer needs")
        self._wait(name, endpoint=endpoint_name, deployment=deployment.name,
                   container=INFERENCE_CONTAINER, progress=progress,
                   budget_s=_probe_budget(deployment) + PULL_MARGIN_SECONDS)
        # Routes only after the pods are ready, so the gateway never sends to nothing.
        (config_map,) = state.select(manifests, kinds=["ConfigMap"])
        self._apply_scale_access(manifests, endpoint_name, progress=progress)
        progress(f"adding {deployment.name} to the gateway's routes")
        self.cluster.apply(config_map)
        self._wait_for_config(endpoint_name, config_map, progress=progress)
        progress(f"deployment {deployment.name} is ready")
        return self.get_deployment(endpoint_name, deployment.name)

    def _render_with(self, endpoint: OnlineEndpoint, deployment: OnlineDeployment,
                     others: Mapping[str, Mapping[str, Any]], *, gateway: Mapping[str, Any],
                     image: str, layout: ContainerLayout) -> list[dict[str, Any]]:
        entities = [state.read_deployment(d) for d in others.values()] + [deployment]
        images = {n: state.container_image(d, INFERENCE_CONTAINER) or ""
                  for n, d in others.items()}
        layouts = {n: found for n, d in others.items()
                   if (found := state.read_layout(d)) is not None}
        images[deployment.name], layouts[deployment.name] = image, layout
        options = state.read_options(gateway)
        return render_manifests(
            endpoint, entities, namespace=self.namespace, images=images, layouts=layouts,
            gateway_image=state.container_image(gateway, GATEWAY_CONTAINER),
            service_type=options.service_type, node_port=options.node_port,
            ingress=options.ingress, gateway_replicas=options.gateway_replicas)

    def _apply_scale_access(self, manifests: list[dict[str, Any]], endpoint_name: str, *,
                            progress: Progress) -> None:
        """The gateway's scale-to-zero Role and RoleBinding as rendered now (the
        Deployments it may scale change with the deployments), or none left over."""
        access = state.select(manifests, kinds=["Role", "RoleBinding"])
        for manifest in access:
            progress(f"applying {manifest['kind']} {manifest['metadata']['name']} (the "
                     "gateway scales its scale-to-zero deployments)")
            self.cluster.apply(manifest)
        if access:
            return
        account = endpoint_object_name(endpoint_name, suffix="gateway")
        stale = [found for kind in ("RoleBinding", "Role")
                 if (found := self.cluster.get(kind, account)) is not None]
        for deleted in self.cluster.delete_objects(stale):
            progress(f"deleted {deleted}: no deployment scales to zero any more")

    def get_deployment(self, endpoint_name: str, name: str) -> OnlineDeployment:
        return _deployment_entity(self._server(endpoint_name, name))

    def list_deployments(self, endpoint_name: str) -> list[OnlineDeployment]:
        self._gateway(endpoint_name)
        return [_deployment_entity(server)
                for server in self._deployments(endpoint_name).values()]

    def delete_deployment(self, endpoint_name: str, name: str, *, progress: Progress) -> None:
        self._server(endpoint_name, name)
        gateway = self._gateway(endpoint_name)
        endpoint = self._endpoint(endpoint_name)
        endpoint.check_deployment_removable(name)
        remaining = {n: d for n, d in self._deployments(endpoint_name).items() if n != name}
        progress(f"removing {name} from the gateway's routes")
        self._apply_gateway_config(endpoint, remaining, gateway=gateway, progress=progress)
        objects = self.cluster.list_managed(_deployment_selector(endpoint_name, name))
        for deleted in self.cluster.delete_objects(objects):
            progress(f"deleted {deleted}")

    def deployment_logs(self, endpoint_name: str, name: str, *, lines: int | None,
                        container_type: ContainerType, previous: bool = False) -> str:
        server = self._server(endpoint_name, name)
        if container_type == "storage-initializer":
            notes = state.read_notes(server).splitlines()
            return "\n".join(notes[-lines:] if lines else notes)
        pods = self.cluster.list_objects("Pod", selector=_deployment_selector(endpoint_name, name))
        parts = []
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            pod_name = pod["metadata"]["name"]
            # A restarting container's current log is empty or new: the cause is in the
            # previous instance's.
            restarting = pod_name in pods_needing_logs([pod], container=INFERENCE_CONTAINER)
            text = self.cluster.read_log(pod_name, container=INFERENCE_CONTAINER,
                                         previous=previous, tail_lines=lines)
            if restarting and not previous and not text.strip():
                text = self.cluster.read_log(pod_name, container=INFERENCE_CONTAINER,
                                             previous=True, tail_lines=lines)
            parts.append(text if len(pods) == 1 else f"==> {pod_name} <==\n{text}")
        return "\n".join(parts)

    # --- internals -------------------------------------------------------------------------

    def _gateway(self, name: str) -> dict[str, Any]:
        gateway = self.cluster.get("Deployment", endpoint_object_name(name))
        if gateway is None:
            raise ResourceNotFoundError(
                f"Endpoint {name} does not exist in namespace {self.namespace} of compute "
                f"{self.compute.name}.",
                hint="List endpoints with `mlkube online-endpoint list`, or create it.")
        return gateway

    def _endpoint(self, name: str) -> OnlineEndpoint:
        """The endpoint's spec, kept on its gateway ConfigMap."""
        config_map = self.cluster.get("ConfigMap", endpoint_object_name(name, suffix="gateway"))
        if config_map is None:
            raise ResourceNotFoundError(
                f"Endpoint {name} has no gateway config in namespace {self.namespace} (its "
                "creation was interrupted, or the ConfigMap was deleted).",
                hint=f"Delete the endpoint (`mlkube online-endpoint delete -n {name}`) and "
                     "create it again.")
        return state.read_endpoint(config_map)

    def _server(self, endpoint_name: str, name: str) -> dict[str, Any]:
        server = self.cluster.get("Deployment", deployment_object_name(endpoint_name, name))
        if server is None:
            raise ResourceNotFoundError(
                f"Deployment {name} of endpoint {endpoint_name} does not exist in namespace "
                f"{self.namespace}.",
                hint=f"List them with `mlkube online-deployment list -e {endpoint_name}`.")
        return server

    def _deployments(self, endpoint_name: str) -> dict[str, dict[str, Any]]:
        """The endpoint's inference-server Deployments by deployment name."""
        selector = (f"{lbl.endpoint_selector(endpoint_name)},"
                    f"{lbl.COMPONENT}={lbl.INFERENCE_SERVER}")
        return {d["metadata"]["labels"][lbl.DEPLOYMENT]: d
                for d in self.cluster.list_objects("Deployment", selector=selector)}

    def _wait(self, name: str, *, endpoint: str, deployment: str | None, container: str,
              budget_s: float, progress: Progress) -> None:
        """Poll the rollout of Deployment ``name`` until ready; raise with the cause the
        moment it cannot succeed."""
        selector = (_deployment_selector(endpoint, deployment) if deployment
                    else f"{lbl.endpoint_selector(endpoint)},{lbl.COMPONENT}={lbl.GATEWAY}")
        deadline = time.monotonic() + budget_s
        last = None
        log_polls = 0
        while True:
            workload = self.cluster.get("Deployment", name) or {}
            replica_sets = self.cluster.list_objects("ReplicaSet", selector=selector)
            pods = self.cluster.list_objects("Pod", selector=selector)
            live = current_pods(workload, pods, replica_sets=replica_sets)
            events = self.cluster.events_for(
                [*live, *current_replica_sets(workload, replica_sets)])
            logs = {pod: self.cluster.read_log(pod, container=container, previous=True,
                                               tail_lines=40)
                    for pod in pods_needing_logs(live, container=container)}
            verdict = read_rollout(workload, pods, events, replica_sets=replica_sets,
                                   logs=logs, container=container)
            if verdict.summary != last:
                progress(f"{deployment or 'gateway'}: {verdict.summary}")
                last = verdict.summary
            if verdict.phase == "ready":
                return
            what = f"Deployment {deployment}" if deployment else "The gateway"
            if (verdict.reason == "CrashLoopBackOff" and not logs.get(verdict.pod or "")
                    and log_polls < CRASH_LOG_POLLS):
                # Caught between a crash and the kubelet's bookkeeping, the previous
                # container's log can be gone for a moment: the cause is in it, so look
                # again before answering without it.
                log_polls += 1
                time.sleep(self._poll_seconds)
                continue
            failure = None
            if verdict.phase == "failed":
                failure = DeploymentFailedError(
                    f"{what} of endpoint {endpoint} failed: {verdict.cause}",
                    hint=verdict.fix)
            elif time.monotonic() > deadline:
                failure = DeploymentFailedError(
                    f"{what} of endpoint {endpoint} was not ready within {budget_s:.0f}s "
                    f"({verdict.summary}).",
                    hint="See `kubectl describe pods -n "
                         f"{self.namespace} -l {selector}` and the deployment's logs.")
            if failure is not None:
                if deployment is not None:
                    self._record_failure(workload, failure, progress=progress)
                raise failure
            time.sleep(self._poll_seconds)

    def _record_failure(self, workload: Mapping[str, Any], failure: DeploymentFailedError,
                        *, progress: Progress) -> None:
        """Keep the failure's cause on the Deployment, for ``get`` (and the studio) later
        and elsewhere; a cluster refusing the patch leaves only the error raised."""
        name = (workload.get("metadata") or {}).get("name", "")
        try:
            self.cluster.annotate(workload, state.rollout_failure_annotations(
                workload, cause=failure.message, fix=failure.hint))
            # An annotation moves a Deployment's generation: until its controller has
            # observed that, readers (kubectl rollout status, mlkube's own) would take it
            # for a spec not yet seen. It observes within moments; wait that long.
            deadline = time.monotonic() + FAILURE_OBSERVED_SECONDS
            while time.monotonic() < deadline:
                current = self.cluster.get("Deployment", name) or {}
                if (current.get("status") or {}).get("observedGeneration", 0) >= (
                        current.get("metadata") or {}).get("generation", 0):
                    break
                time.sleep(min(self._poll_seconds, 0.2))
        except MlkubeError as error:
            progress(f"the failure's cause is not kept on the Deployment: {error.message}")

    def _engine(self) -> Any:
        if self._engine_factory is not None:
            return self._engine_factory()
        from mlkube.targets.docker.engine import DockerEngine

        return DockerEngine.connect()

    def _wheel(self) -> Path:
        if self._server_wheel is None:
            from mlkube.environments.server_package import build_server_wheel

            self._server_wheel = build_server_wheel()
        return self._server_wheel


def _with_endpoint_spec(manifests: list[dict[str, Any]],
                        endpoint: OnlineEndpoint) -> list[dict[str, Any]]:
    """The endpoint's spec on its gateway ConfigMap: every apply of the ConfigMap must
    carry it (server-side apply removes what its manager stops sending)."""
    return state.annotate(
        manifests, kind="ConfigMap", name=endpoint_object_name(endpoint.name, suffix="gateway"),
        annotations={state.ENDPOINT_SPEC: json.dumps(endpoint.to_dict(), sort_keys=True)})


def _deployment_selector(endpoint: str, deployment: str) -> str:
    return f"{lbl.endpoint_selector(endpoint)},{lbl.DEPLOYMENT}={deployment}"


def _probe_budget(deployment: OnlineDeployment) -> float:
    # The pod's startup probe carries liveness's budget (inference_manifests): the pod is
    # restarted, not merely unready, once it has passed.
    return deployment.liveness_probe.budget_seconds


def _host(server: str) -> str | None:
    from urllib.parse import urlsplit

    return urlsplit(server).hostname


def _deployment_entity(server: Mapping[str, Any]) -> OnlineDeployment:
    """The deployment a Deployment carries, with its state and its instances: ready pods
    (current) and the replicas wanted (by mlkube, the HPA or the gateway)."""
    entity = state.read_deployment(server)
    scale = entity.scale_settings
    # An HPA's replicas above its minReplicas are scaling, not a rollout.
    floor = (autoscaler_floor(scale)
             if isinstance(scale, TargetUtilizationScaleSettings) else None)
    entity.provisioning_state = state.provisioning_state(server, autoscaled_floor=floor)
    if entity.provisioning_state != "Succeeded":
        entity.provisioning_error = state.rollout_failure(server)
        if entity.provisioning_error:
            entity.provisioning_state = "Failed"
    entity.current_instances = int((server.get("status") or {}).get("readyReplicas") or 0)
    entity.desired_instances = int((server.get("spec") or {}).get("replicas") or 0)
    return entity
