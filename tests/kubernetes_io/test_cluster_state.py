"""The cluster as the state store: what the target writes on objects reads back as the
same endpoint and deployment on any machine; stale objects are found; provisioning
state and the scoring URI come from objects shaped as the API returns them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from mlkube.entities.container_layout import build_layout
from mlkube.entities.online_deployment import OnlineDeployment, load_online_deployment
from mlkube.entities.online_endpoint import KubernetesOnlineEndpoint, load_online_endpoint
from mlkube.errors import ValidationError
from mlkube.targets.kubernetes import state
from mlkube.targets.kubernetes.gateway_manifests import IngressSettings
from mlkube.targets.kubernetes.names import deployment_object_name, endpoint_object_name
from mlkube.targets.kubernetes.render import render_manifests
from tests.kubernetes_io.rollout_fixtures import load

SPECS = Path(__file__).parent.parent / "kubernetes" / "specs"


def rendered_canary():
    endpoint = load_online_endpoint(SPECS / "canary-endpoint.yml")
    deployments = [load_online_deployment(SPECS / f"{n}-deployment.yml") for n in ("blue", "green")]
    return endpoint, deployments, render_manifests(endpoint, deployments, namespace="ml")


def test_endpoint_spec_written_on_the_gateway_config_map_reads_back_equal():
    endpoint, _deployments, manifests = rendered_canary()
    name = endpoint_object_name(endpoint.name, suffix="gateway")
    annotated = state.annotate(manifests, kind="ConfigMap", name=name, annotations={
        state.ENDPOINT_SPEC: json.dumps(endpoint.stored_spec(previous=None))})
    config_map = next(m for m in annotated if m["kind"] == "ConfigMap")

    back = state.read_endpoint(config_map)

    assert back.to_dict() == endpoint.to_dict()
    assert back.traffic == endpoint.traffic and back.mirror_traffic == endpoint.mirror_traffic


def test_annotating_changes_only_the_named_object_and_not_the_input():
    _endpoint, _deployments, manifests = rendered_canary()
    before = copy.deepcopy(manifests)
    endpoint = _endpoint
    annotated = state.annotate(manifests, kind="ConfigMap",
                               name=endpoint_object_name(endpoint.name, suffix="gateway"),
                               annotations={"a": "b"})
    assert manifests == before
    changed = [m for m, o in zip(annotated, manifests, strict=True) if m != o]
    assert [m["kind"] for m in changed] == ["ConfigMap"]


def test_deployment_spec_and_layout_read_back_for_rerendering_elsewhere():
    endpoint, deployments, manifests = rendered_canary()
    blue = deployments[0]
    layout = build_layout(model_name="iris", model_version="3", model_folder="model",
                          mlflow_model=True, code_folder=None, scoring_script=None)
    name = deployment_object_name(endpoint.name, blue.name)
    annotated = state.annotate(manifests, kind="Deployment", name=name, annotations={
        state.DEPLOYMENT_SPEC: json.dumps(blue.to_dict()),
        state.LAYOUT: state.layout_json(layout), state.NOTES: "model iris:3 fetched"})
    server = next(m for m in annotated if m["metadata"]["name"] == name
                  and m["kind"] == "Deployment")

    assert state.read_deployment(server).to_dict() == blue.to_dict()
    assert state.read_layout(server) == layout
    assert state.read_notes(server) == "model iris:3 fetched"
    assert state.container_image(server, "inference-server").endswith(
        f"{endpoint.name}-blue:latest")


def test_a_deployment_not_made_by_mlkube_is_refused_with_what_to_do():
    with pytest.raises(ValidationError, match="carries no mlkube spec"):
        state.read_deployment({"metadata": {"labels": {"mlkube.io/deployment": "x"}}})


def test_update_without_traffic_keeps_the_traffic_in_the_cluster():
    previous = KubernetesOnlineEndpoint(name="iris", compute="k8s", traffic={"blue": 100})
    update = KubernetesOnlineEndpoint(name="iris", compute="k8s", description="new text")
    spec = update.stored_spec(previous=previous)
    assert spec["traffic"] == {"blue": 100}
    assert spec["description"] == "new text"
    shifted = KubernetesOnlineEndpoint(name="iris", compute="k8s", traffic={})
    assert shifted.stored_spec(previous=previous).get("traffic", {}) == {}


def test_switching_from_autoscaling_to_one_instance_leaves_hpa_and_pdb_stale():
    endpoint = load_online_endpoint(SPECS / "autoscale-endpoint.yml")
    scaled = load_online_deployment(SPECS / "autoscale-deployment.yml")
    fixed = OnlineDeployment.from_dict({**scaled.to_dict(), "scale_settings": {"type": "default"}})
    before = render_manifests(endpoint, [scaled])
    after = render_manifests(endpoint, [fixed])

    stale = state.stale_objects(before, after)

    assert sorted(m["kind"] for m in stale) == ["HorizontalPodAutoscaler", "PodDisruptionBudget"]


def test_select_picks_one_deployments_objects_by_label_and_kind():
    _endpoint, _deployments, manifests = rendered_canary()
    chosen = state.select(manifests, kinds=("Deployment", "Service"),
                          labels={"mlkube.io/deployment": "green"})
    assert sorted(m["kind"] for m in chosen) == ["Deployment", "Service"]
    assert all(m["metadata"]["labels"]["mlkube.io/deployment"] == "green" for m in chosen)


def test_endpoint_properties_choose_how_the_gateway_is_exposed():
    endpoint = KubernetesOnlineEndpoint(name="iris", compute="k8s", properties={
        "mlkube.io/service-type": "NodePort", "mlkube.io/node-port": "30080",
        "mlkube.io/ingress-host": "iris.example.com", "mlkube.io/tls-secret": "iris-tls",
        "mlkube.io/gateway-replicas": "3"})
    options = state.endpoint_options(endpoint)
    assert options.service_type == "NodePort" and options.node_port == 30080
    assert options.ingress == IngressSettings(host="iris.example.com", tls_secret="iris-tls")
    assert options.gateway_replicas == 3
    assert state.EndpointOptions.from_json(options.to_json()) == options
    assert state.endpoint_options(KubernetesOnlineEndpoint(name="iris")).service_type == (
        "LoadBalancer")


@pytest.mark.parametrize("properties", [{"mlkube.io/service-type": "ExternalName"},
                                        {"mlkube.io/node-port": "thirty"},
                                        {"mlkube.io/tls-secret": "iris-tls"}])
def test_bad_endpoint_properties_are_refused_naming_the_property(properties):
    with pytest.raises(ValidationError):
        state.endpoint_options(KubernetesOnlineEndpoint(name="iris", properties=properties))


@pytest.mark.parametrize(("fixture", "expected"), [
    ("ready", "Succeeded"), ("crash-loop-backoff", "Updating"), ("one-of-two-ready", "Updating"),
])
def test_provisioning_state_follows_the_deployment_status(fixture, expected):
    recorded = load(fixture)
    assert state.provisioning_state(recorded["deployment"]) == expected


def test_pods_an_autoscaler_adds_are_scaling_not_an_update():
    # Recorded on the test cluster: the HPA raised replicas 1 -> 2, the second pod starts.
    scaling_up = load("hpa-scaling-up")["deployment"]
    assert state.provisioning_state(scaling_up, autoscaled_floor=1) == "Succeeded"
    # Below the autoscaler's floor, or without an autoscaler, it is still rolling out.
    assert state.provisioning_state(scaling_up, autoscaled_floor=2) == "Updating"
    assert state.provisioning_state(scaling_up) == "Updating"
    # A new revision rolling out under the autoscaler is an update: a pod of the old
    # revision left, or a spec the controller has not seen yet.
    rolling = copy.deepcopy(scaling_up)
    rolling["status"]["updatedReplicas"] = 1
    unseen = copy.deepcopy(scaling_up)
    unseen["metadata"]["generation"] += 1
    for workload in (rolling, unseen):
        assert state.provisioning_state(workload, autoscaled_floor=1) == "Updating"


def _service(service_type: str, *, status: dict | None = None, node_port: int | None = None):
    port = {"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http"}
    if node_port:
        port["nodePort"] = node_port
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "iris", "namespace": "ml"},
            "spec": {"type": service_type, "clusterIP": "10.0.171.239", "ports": [port]},
            "status": status or {"loadBalancer": {}}}


@pytest.mark.parametrize(("service", "ingress", "expected"), [
    (_service("LoadBalancer", node_port=31380,
              status={"loadBalancer": {"ingress": [{"ip": "20.62.1.7", "ipMode": "VIP"}]}}),
     None, "http://20.62.1.7/score"),
    (_service("LoadBalancer", node_port=31380, status={"loadBalancer": {"ingress": [
        {"hostname": "a1b2-123.eu-west-1.elb.amazonaws.com"}]}}),
     None, "http://a1b2-123.eu-west-1.elb.amazonaws.com/score"),
    (_service("LoadBalancer", node_port=31380), None, "http://10.224.0.4:31380/score"),
    (_service("NodePort", node_port=30080), None, "http://10.224.0.4:30080/score"),
    (_service("ClusterIP"), None, "http://iris.ml.svc.cluster.local:80/score"),
    (_service("ClusterIP"),
     {"kind": "Ingress", "spec": {"tls": [{"hosts": ["iris.example.com"]}],
                                  "rules": [{"host": "iris.example.com"}]}},
     "https://iris.example.com/score"),
])
def test_scoring_uri_comes_from_the_gateway_service_or_ingress(service, ingress, expected):
    assert state.scoring_uri(service, ingress, node_host="10.224.0.4") == expected


def test_pending_load_balancer_without_a_node_address_has_no_uri_yet():
    assert state.scoring_uri(_service("LoadBalancer"), None, node_host=None) is None
