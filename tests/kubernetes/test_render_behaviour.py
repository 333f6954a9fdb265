"""What an operator relies on in the rendered manifests, beyond their exact text."""

from __future__ import annotations

import base64
import re

import pytest

from mlkube.entities.online_deployment import KubernetesOnlineDeployment
from mlkube.entities.online_endpoint import KubernetesOnlineEndpoint
from mlkube.errors import ValidationError
from mlkube.gateway.auth import load_endpoint_keys
from mlkube.gateway.config import load_gateway_config
from mlkube.targets.kubernetes.names import deployment_object_name, endpoint_object_name
from mlkube.targets.kubernetes.render import dump_manifests, render_manifests
from mlkube.targets.kubernetes.sizing import with_instance_resources
from tests.kubernetes.scenarios import FAKE_KEYS, SCENARIOS

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _by_kind(manifests: list[dict], kind: str) -> list[dict]:
    return [m for m in manifests if m["kind"] == kind]


def _one(manifests: list[dict], kind: str, *, component: str) -> dict:
    [found] = [m for m in _by_kind(manifests, kind)
               if m["metadata"]["labels"]["app.kubernetes.io/component"] == component]
    return found


def _pod(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_object_carries_the_mlkube_labels_and_a_dns_label_name(name: str) -> None:
    endpoint, deployments = SCENARIOS[name].load()
    for manifest in SCENARIOS[name].render():
        labels = manifest["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "mlkube"
        assert labels["app.kubernetes.io/name"].startswith("mlkube-")
        assert labels["mlkube.io/endpoint"] == endpoint.name
        if labels["app.kubernetes.io/component"] == "inference-server":
            assert labels["mlkube.io/deployment"] in {d.name for d in deployments}
        assert DNS_LABEL.match(manifest["metadata"]["name"])
        assert len(manifest["metadata"]["name"]) <= 63


def test_names_stay_valid_and_distinct_whatever_the_user_typed() -> None:
    long_endpoint = "Fraud-Detection-" + "X" * 16
    names = {
        deployment_object_name("ab-c", "d"),
        deployment_object_name("ab", "c-d"),
        deployment_object_name(long_endpoint, "Blue-" + "9" * 27),
        deployment_object_name(long_endpoint, "blue-" + "9" * 27),
        endpoint_object_name("Iris"),
        endpoint_object_name("iris"),
    }
    assert len(names) == 6
    for name in names:
        assert DNS_LABEL.match(name) and len(name) <= 63, name
    assert endpoint_object_name("iris") == "iris"  # a valid name is kept as typed


def test_rendering_is_deterministic_and_independent_of_deployment_order() -> None:
    endpoint, deployments = SCENARIOS["canary-with-mirror"].load()
    first = dump_manifests(render_manifests(endpoint, deployments, keys=FAKE_KEYS))
    again = dump_manifests(render_manifests(endpoint, list(reversed(deployments)),
                                            keys=FAKE_KEYS))
    assert first == again


def test_secret_holds_no_key_unless_keys_are_passed() -> None:
    endpoint, deployments = SCENARIOS["canary-with-mirror"].load()
    without = render_manifests(endpoint, deployments)
    [secret] = _by_kind(without, "Secret")
    assert "data" not in secret and "stringData" not in secret
    assert "mlkube.io/keys" in secret["metadata"]["annotations"]
    text = dump_manifests(without)
    assert FAKE_KEYS.primary_key not in text

    [secret] = _by_kind(render_manifests(endpoint, deployments, keys=FAKE_KEYS), "Secret")
    keys = load_endpoint_keys(base64.b64decode(secret["data"]["keys.json"]).decode())
    assert keys == FAKE_KEYS


def test_gateway_config_map_routes_the_endpoint_traffic_to_each_deployment_service() -> None:
    manifests = SCENARIOS["canary-with-mirror"].render()
    [config_map] = _by_kind(manifests, "ConfigMap")
    config = load_gateway_config(config_map["data"]["config.json"])
    assert config.auth_mode == "aml_token"
    assert dict(config.traffic) == {"blue": 90, "green": 10}
    assert dict(config.mirror_traffic) == {"green": 20}
    services = {s["metadata"]["labels"].get("mlkube.io/deployment"): s["metadata"]["name"]
                for s in _by_kind(manifests, "Service")}
    blue, green = config.deployments["blue"], config.deployments["green"]
    assert set(blue.instances) == {f"http://{services['blue']}.mlkube.svc:5001"}
    # Admission limit as in Azure ML: max concurrent requests (unset: mlkube's 8) x
    # instances (3).
    assert blue.capacity == 8 * 3
    assert green.request_timeout_ms == 10000


def test_gateway_reads_config_and_keys_from_whole_folder_mounts_without_a_config_hash() -> None:
    manifests = SCENARIOS["canary-with-mirror"].render()
    gateway = _one(manifests, "Deployment", component="gateway")
    pod = _pod(gateway)
    [container] = pod["containers"]
    assert not any("subPath" in mount for mount in container["volumeMounts"])
    assert "annotations" not in gateway["spec"]["template"]["metadata"]
    args = container["args"]
    assert args[:2] == ["gateway", "run"]
    assert args[args.index("--config") + 1].startswith("/etc/mlkube/gateway/")
    assert args[args.index("--keys") + 1].startswith("/etc/mlkube/keys/")
    [account] = _by_kind(manifests, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    # The gateway's pod has its account's token, and the account is bound to nothing
    # unless a deployment scales to zero (see the next test).
    assert pod["automountServiceAccountToken"] is True
    assert _by_kind(manifests, "Role") == [] and _by_kind(manifests, "RoleBinding") == []


def test_gateway_may_scale_only_its_own_scale_to_zero_deployments() -> None:
    manifests = SCENARIOS["scale-to-zero"].render()
    [account] = _by_kind(manifests, "ServiceAccount")
    [role] = _by_kind(manifests, "Role")
    [binding] = _by_kind(manifests, "RoleBinding")
    [sleepy] = [m for m in _by_kind(manifests, "Deployment")
                if m["metadata"]["labels"].get("mlkube.io/deployment") == "sleepy"]
    # Only the scale subresource, only the deployment that scales to zero (not "elastic").
    assert role["rules"] == [{"apiGroups": ["apps"], "resources": ["deployments/scale"],
                              "resourceNames": [sleepy["metadata"]["name"]],
                              "verbs": ["get", "patch", "update"]}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount",
                                    "name": account["metadata"]["name"],
                                    "namespace": account["metadata"]["namespace"]}]
    [config_map] = _by_kind(manifests, "ConfigMap")
    config = load_gateway_config(config_map["data"]["config.json"])
    route = config.deployments["sleepy"]
    assert route.scale_to_zero is not None
    assert route.scale_to_zero.kubernetes_deployment == sleepy["metadata"]["name"]
    assert route.scale_to_zero.after_s == 600
    assert route.instance_count == 2  # woken to its instance_count
    assert config.deployments["elastic"].scale_to_zero is None


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_pod_runs_hardened_and_drains_before_it_stops(name: str) -> None:
    _, deployments = SCENARIOS[name].load()
    timeout_s = {d.name: d.request_settings.request_timeout_ms / 1000 for d in deployments}
    for deployment in _by_kind(SCENARIOS[name].render(), "Deployment"):
        pod = _pod(deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 1000
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        [container] = pod["containers"]
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        sleep, seconds = container["lifecycle"]["preStop"]["exec"]["command"]
        assert sleep == "sleep"
        # The gateway waits for its slowest deployment; a server for its own requests.
        owner = deployment["metadata"]["labels"].get("mlkube.io/deployment")
        longest = timeout_s[owner] if owner else max(timeout_s.values())
        assert pod["terminationGracePeriodSeconds"] > int(seconds) + longest


def test_inference_server_gets_azure_ml_layout_probes_and_request_timeout() -> None:
    manifests = SCENARIOS["score-py"].render()
    pod = _pod(_one(manifests, "Deployment", component="inference-server"))
    [container] = pod["containers"]
    assert container["name"] == "inference-server"
    assert container["command"] + container["args"] == ["mlkube", "serve", "--host", "0.0.0.0"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["AZUREML_MODEL_DIR"] == "/var/azureml-app/azureml-models/model/1"
    assert env["AML_APP_ROOT"] == "/var/azureml-app/scoring"
    assert env["AZUREML_ENTRY_SCRIPT"] == "score.py"
    assert env["SCORING_TIMEOUT_MS"] == "3000"
    assert env["LOG_LEVEL"] == "debug"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    # The startup probe holds liveness's initial delay and budget: a slow load is not killed.
    startup = container["startupProbe"]
    assert (startup["initialDelaySeconds"], startup["failureThreshold"]) == (5, 6)
    assert container["readinessProbe"]["initialDelaySeconds"] == 10
    assert container["resources"] == {"requests": {"cpu": "0.5", "memory": "1Gi"},
                                      "limits": {"cpu": "1", "memory": "2Gi"}}


def test_no_code_mlflow_deployment_sets_no_entry_script() -> None:
    pod = _pod(_one(SCENARIOS["mlflow-no-code"].render(), "Deployment",
                    component="inference-server"))
    env = {item["name"]: item["value"] for item in pod["containers"][0]["env"]}
    assert "AZUREML_ENTRY_SCRIPT" not in env
    assert env["AZUREML_MODEL_DIR"] == "/var/azureml-app/azureml-models/iris-lgbm/1"


def test_gpu_request_is_also_a_limit_and_two_instances_get_a_disruption_budget() -> None:
    manifests = SCENARIOS["gpu"].render()
    inference = _one(manifests, "Deployment", component="inference-server")
    resources = _pod(inference)["containers"][0]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == resources["requests"]["nvidia.com/gpu"] == "1"
    assert inference["spec"]["replicas"] == 2
    budget = _one(manifests, "PodDisruptionBudget", component="inference-server")
    assert budget["spec"] == {"maxUnavailable": 1,
                              "selector": inference["spec"]["selector"]}


def test_target_utilization_leaves_replicas_to_the_autoscaler() -> None:
    manifests = SCENARIOS["target-utilization"].render()
    inference = _one(manifests, "Deployment", component="inference-server")
    assert "replicas" not in inference["spec"]
    [hpa] = _by_kind(manifests, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == inference["metadata"]["name"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    target = hpa["spec"]["metrics"][0]["resource"]["target"]
    assert target == {"type": "Utilization", "averageUtilization": 60}
    # One gateway replica: no gateway disruption budget (it could only block drains).
    assert _by_kind(manifests, "PodDisruptionBudget")[0]["metadata"]["labels"][
        "app.kubernetes.io/component"] == "inference-server"


def test_single_instance_deployment_gets_no_disruption_budget() -> None:
    manifests = SCENARIOS["mlflow-no-code"].render()
    budgets = _by_kind(manifests, "PodDisruptionBudget")
    assert [b["metadata"]["labels"]["app.kubernetes.io/component"] for b in budgets] == [
        "gateway"]


def _resources(manifests: list[dict], deployment: str) -> dict:
    [found] = [m for m in _by_kind(manifests, "Deployment")
               if m["metadata"]["labels"].get("mlkube.io/deployment") == deployment]
    return _pod(found)["containers"][0]["resources"]


def test_instance_type_sizes_each_pod_as_the_whole_vm_gpus_included() -> None:
    manifests = SCENARIOS["instance-types"].render()
    assert _resources(manifests, "blue") == {  # Standard_DS3_v2: 4 vCPUs, 14 GiB
        "requests": {"cpu": "4", "memory": "14Gi"}, "limits": {"cpu": "4", "memory": "14Gi"}}
    assert _resources(manifests, "gpu") == {  # Standard_NC6s_v3: 6 vCPUs, 112 GiB, 1 V100
        "requests": {"cpu": "6", "memory": "112Gi", "nvidia.com/gpu": "1"},
        "limits": {"cpu": "6", "memory": "112Gi", "nvidia.com/gpu": "1"}}


def test_resources_win_over_the_instance_type_and_show_says_so() -> None:
    deployment = KubernetesOnlineDeployment(
        name="blue", model="iris:1", instance_type="Standard_DS3_v2",
        resources={"requests": {"cpu": "250m", "memory": "512Mi"}})
    assert _resources(render_manifests(_endpoint(), [deployment]), "blue") == {
        "requests": {"cpu": "250m", "memory": "512Mi"}}
    shown = with_instance_resources(deployment).instance_resources
    assert shown is not None and shown.applied.startswith("not used for sizing")


def test_show_says_what_the_instance_type_became_on_the_cluster() -> None:
    deployment = KubernetesOnlineDeployment(name="blue", model="iris:1",
                                            instance_type="Standard_F4s_v2")
    shown = with_instance_resources(deployment).instance_resources
    assert shown is not None
    assert (shown.instance_type, shown.cpu, shown.memory) == ("Standard_F4s_v2", "4", "8Gi")
    assert shown.applied == "pod requests cpu 4, memory 8Gi, limits cpu 4, memory 8Gi"
    # An update that drops the instance type keeps nothing stale.
    dropped = with_instance_resources(deployment).model_copy(update={"instance_type": None})
    assert with_instance_resources(dropped).instance_resources is None


def test_azure_default_instance_type_requests_a_tenth_of_a_cpu_and_limits_two() -> None:
    deployment = KubernetesOnlineDeployment(name="blue", model="iris:1",
                                            instance_type="defaultinstancetype")
    assert _resources(render_manifests(_endpoint(), [deployment]), "blue") == {
        "requests": {"cpu": "100m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}


def test_cpu_autoscaling_measures_against_the_instance_type_cpu_request() -> None:
    deployment = KubernetesOnlineDeployment(
        name="blue", model="iris:1", instance_type="Standard_D2_v2",
        scale_settings={"type": "target_utilization", "max_instances": 3})
    manifests = render_manifests(_endpoint(), [deployment])
    assert _resources(manifests, "blue")["requests"] == {"cpu": "2", "memory": "7Gi"}
    assert len(_by_kind(manifests, "HorizontalPodAutoscaler")) == 1


def _endpoint(**fields) -> KubernetesOnlineEndpoint:
    return KubernetesOnlineEndpoint(name="iris", compute="k8s", **fields)


def test_traffic_to_a_deployment_not_given_is_refused_with_a_fix() -> None:
    blue = KubernetesOnlineDeployment(name="blue", model="iris:1")
    with pytest.raises(ValidationError, match="'green'") as caught:
        render_manifests(_endpoint(traffic={"blue": 90, "green": 10}), [blue])
    assert "Add that deployment" in caught.value.hint


def test_cpu_autoscaling_without_a_cpu_request_is_refused_with_a_fix() -> None:
    deployment = KubernetesOnlineDeployment(
        name="blue", model="iris:1", resources={"requests": {"memory": "1Gi"}},
        scale_settings={"type": "target_utilization", "max_instances": 3})
    with pytest.raises(ValidationError, match="requests.cpu") as caught:
        render_manifests(_endpoint(), [deployment])
    assert "cpu" in caught.value.hint


@pytest.mark.parametrize(("options", "fragment"), [
    ({"namespace": "ML_Serving"}, "Namespace"),
    ({"service_type": "ExternalName"}, "Service type"),
    ({"service_type": "NodePort", "node_port": 80}, "Node port"),
    ({"images": {"green": "x:1"}}, "'green'"),
])
def test_bad_render_options_are_refused_with_a_fix(options: dict, fragment: str) -> None:
    blue = KubernetesOnlineDeployment(name="blue", model="iris:1")
    with pytest.raises(ValidationError, match=fragment) as caught:
        render_manifests(_endpoint(), [blue], **options)
    assert caught.value.hint


def test_deployment_of_another_endpoint_is_refused() -> None:
    other = KubernetesOnlineDeployment(name="blue", endpoint_name="churn", model="iris:1")
    with pytest.raises(ValidationError, match="belongs to endpoint 'churn'"):
        render_manifests(_endpoint(), [other])
