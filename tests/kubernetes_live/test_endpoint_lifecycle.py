"""One endpoint's life on the real cluster, driven as a user drives it: a no-code MLflow
deployment (blue, the registered model) and the seed's ``score.py`` (green), scored
through the endpoint's scoring URI with its key; a 90/10 split measured, a mirror,
header routing, key regeneration, logs across a container restart, another process with
only the kubeconfig, a new model version rolled out under load, and a delete that leaves
nothing of mlkube's behind.

The tests share the endpoint and run in file order; the last one deletes it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mlkube.entities.code_configuration import CodeConfiguration
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import KubernetesOnlineDeployment
from mlkube.entities.online_endpoint import KubernetesOnlineEndpoint
from mlkube.operations.client import MLClient
from tests.endpoints.scoring import ClientLoop, score
from tests.gateway.raw_client import connect, exchange, read_response
from tests.kubernetes_live.conftest import (
    COMPUTE,
    LiveCluster,
    LiveWorkspace,
    attach_workspace,
    expected_gateway_engine,
    gateway_health,
)
from tests.models import SEED_SCORE_PY
from tests.studio.conftest import running_studio, signed_in

# Image builds (the environment layer is shared with tests/docker), pushes, pulls.
pytestmark = pytest.mark.timeout(900)

ENDPOINT = "iris-live"
MANAGED = "app.kubernetes.io/managed-by=mlkube"


@dataclass(frozen=True)
class LiveEndpoint:
    name: str
    scoring_uri: str
    primary_key: str


def _deployments_of(client: MLClient, iris_root: Path, code: Path, *, blue_model: str
                    ) -> list[KubernetesOnlineDeployment]:
    return [
        KubernetesOnlineDeployment(name="blue", endpoint_name=ENDPOINT, model=blue_model,
                                   instance_count=1),
        KubernetesOnlineDeployment(
            name="green", endpoint_name=ENDPOINT, model=Model(path=str(iris_root / "model")),
            code_configuration=CodeConfiguration(code=str(code), scoring_script="score.py"),
            instance_count=1),
    ]


@pytest.fixture(scope="module")
def seed_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("seed-code")
    shutil.copy(SEED_SCORE_PY, folder / "score.py")
    return folder


@pytest.fixture(scope="module")
def client(live_workspace: LiveWorkspace) -> MLClient:
    return live_workspace.client()


@pytest.fixture(scope="module")
def live_endpoint(client: MLClient, iris_lgbm_model_root: Path, seed_code: Path
                  ) -> Iterator[LiveEndpoint]:
    registered = client.models.create_or_update(Model(
        name="iris-lgbm", path=str(iris_lgbm_model_root / "model"), type="mlflow_model"))
    endpoint = client.online_endpoints.begin_create_or_update(KubernetesOnlineEndpoint(
        name=ENDPOINT, compute=COMPUTE, auth_mode="key")).result()
    try:
        for deployment in _deployments_of(client, iris_lgbm_model_root, seed_code,
                                          blue_model=f"azureml:iris-lgbm:{registered.version}"):
            created = client.online_deployments.begin_create_or_update(deployment).result()
            assert created.provisioning_state == "Succeeded"
        endpoint.traffic = {"blue": 100}
        endpoint = client.online_endpoints.begin_create_or_update(endpoint).result()
        assert endpoint.scoring_uri and endpoint.scoring_uri.startswith("http://127.0.0.1:")
        yield LiveEndpoint(ENDPOINT, endpoint.scoring_uri,
                           client.online_endpoints.get_keys(ENDPOINT).primary_key)
    finally:
        if any(e.name == ENDPOINT for e in client.online_endpoints.list()):
            client.online_endpoints.begin_delete(ENDPOINT).result()


def _set_traffic(client: MLClient, traffic: dict[str, int],
                 mirror: dict[str, int] | None = None) -> None:
    endpoint = client.online_endpoints.get(ENDPOINT)
    endpoint.traffic = traffic
    endpoint.mirror_traffic = mirror or {}
    client.online_endpoints.begin_create_or_update(endpoint).result()


def _served_by(http: httpx.Client, endpoint: LiveEndpoint, count: int, **kwargs: object
               ) -> Counter[str]:
    seen: Counter[str] = Counter()
    for _ in range(count):
        response = score(http, endpoint.scoring_uri, endpoint.primary_key, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 200, response.text
        seen[response.headers["azureml-model-deployment"]] += 1
    return seen


def test_no_code_and_score_py_deployments_answer_through_the_scoring_uri_with_the_key(
    live_endpoint: LiveEndpoint, http: httpx.Client, expected_prediction: list[float],
) -> None:
    for deployment in ("blue", "green"):
        response = score(http, live_endpoint.scoring_uri, live_endpoint.primary_key,
                         deployment=deployment)
        assert response.status_code == 200, response.text
        assert response.headers["azureml-model-deployment"] == deployment
        assert response.json()[0] == pytest.approx(expected_prediction)
    assert score(http, live_endpoint.scoring_uri, None).status_code == 401
    assert score(http, live_endpoint.scoring_uri, "not-the-key").status_code == 401


def test_the_gateway_pods_serve_with_the_native_engine(live_endpoint: LiveEndpoint,
                                                       http: httpx.Client) -> None:
    health = gateway_health(http, live_endpoint.scoring_uri)

    assert health["engine"] == expected_gateway_engine()
    assert health["endpoint"] == ENDPOINT and health["traffic"] == {"blue": 100}


def test_curl_with_the_key_scores_the_seed_request(live_endpoint: LiveEndpoint,
                                                   expected_prediction: list[float]) -> None:
    done = subprocess.run(
        ["curl", "-sS", "-f", "-H", f"Authorization: Bearer {live_endpoint.primary_key}",
         "-H", "Content-Type: application/json",
         "-d", '{"data": [[1, 2, 3, 4]]}', live_endpoint.scoring_uri],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0] == pytest.approx(expected_prediction)


def test_a_90_10_split_is_what_500_requests_see(live_endpoint: LiveEndpoint, client: MLClient,
                                                http: httpx.Client) -> None:
    _set_traffic(client, {"blue": 90, "green": 10})
    seen = _served_by(http, live_endpoint, 500)
    # 10 % of 500 is 50 +- 6.7 (one standard deviation): 25..75 fails one run in ~10^4.
    assert set(seen) == {"blue", "green"}
    assert 25 <= seen["green"] <= 75, seen


def test_the_deployment_header_wins_over_the_weights(live_endpoint: LiveEndpoint,
                                                     client: MLClient, http: httpx.Client
                                                     ) -> None:
    _set_traffic(client, {"blue": 100})
    assert _served_by(http, live_endpoint, 20) == {"blue": 20}
    assert _served_by(http, live_endpoint, 20, deployment="green") == {"green": 20}


def _green_requests(live_cluster: LiveCluster, namespace: str) -> int:
    """Scoring requests green's inference servers have answered, from their /metrics
    (read through the API server's pod proxy: the pods are not reachable otherwise)."""
    from kubernetes import client as k8s

    total = 0
    with live_cluster.api() as api:
        core = k8s.CoreV1Api(api)
        pods = core.list_namespaced_pod(
            namespace, label_selector=f"mlkube.io/endpoint={ENDPOINT},mlkube.io/deployment=green")
        for pod in pods.items:
            text = core.connect_get_namespaced_pod_proxy_with_path(
                f"{pod.metadata.name}:5001", namespace, "metrics")
            for line in text.splitlines():
                match = re.match(r'mlkube_requests_total\{route="/score",status="200"\} (\S+)',
                                 line)
                if match:
                    total += int(float(match.group(1)))
    return total


def test_a_mirror_copies_a_share_to_green_while_clients_only_see_blue(
    live_endpoint: LiveEndpoint, client: MLClient, http: httpx.Client,
    live_workspace: LiveWorkspace,
) -> None:
    _set_traffic(client, {"blue": 100}, mirror={"green": 20})
    before = _green_requests(live_workspace.cluster, live_workspace.namespace)
    assert _served_by(http, live_endpoint, 300) == {"blue": 300}
    # Mirrored copies are sent after the answer; give the last ones a moment to land.
    deadline = time.monotonic() + 10
    mirrored = 0
    while time.monotonic() < deadline:
        mirrored = _green_requests(live_workspace.cluster, live_workspace.namespace) - before
        if mirrored >= 30:
            break
        time.sleep(0.5)
    # 20 % of 300 is 60 +- 6.9.
    assert 30 <= mirrored <= 90, mirrored
    _set_traffic(client, {"blue": 100})


def test_a_regenerated_key_works_and_the_old_one_is_refused(
    live_endpoint: LiveEndpoint, client: MLClient, http: httpx.Client,
) -> None:
    old = client.online_endpoints.get_keys(ENDPOINT)
    client.online_endpoints.begin_regenerate_keys(ENDPOINT, key_type="primary").result()
    new = client.online_endpoints.get_keys(ENDPOINT)
    assert new.primary_key != old.primary_key
    assert new.secondary_key == old.secondary_key
    # The call returns once every gateway replica takes the new key. A Service picks a
    # replica per connection, so each check opens its own: none still takes the old key.
    with httpx.Client(timeout=10, trust_env=False,
                      limits=httpx.Limits(max_keepalive_connections=0)) as fresh:
        for _ in range(8):
            assert score(fresh, live_endpoint.scoring_uri, new.primary_key).status_code == 200
            assert score(fresh, live_endpoint.scoring_uri, old.primary_key).status_code == 401
            assert score(fresh, live_endpoint.scoring_uri, old.secondary_key).status_code == 200
    object.__setattr__(live_endpoint, "primary_key", new.primary_key)


def test_logs_show_the_current_container_and_the_previous_one_after_a_restart(
    live_endpoint: LiveEndpoint, client: MLClient, live_workspace: LiveWorkspace,
) -> None:
    from kubernetes.stream import stream

    from kubernetes import client as k8s

    current = client.online_deployments.get_logs("blue", ENDPOINT, lines=50)
    assert "Ready to score" in current
    with live_workspace.cluster.api() as api:
        core = k8s.CoreV1Api(api)
        (pod,) = core.list_namespaced_pod(
            live_workspace.namespace,
            label_selector=f"mlkube.io/endpoint={ENDPOINT},mlkube.io/deployment=blue").items
        # The server is PID 1 of its container (which ignores SIGKILL from inside its
        # own PID namespace): stopping it with SIGTERM restarts the container.
        stream(core.connect_get_namespaced_pod_exec, pod.metadata.name,
               live_workspace.namespace, container="inference-server",
               command=["python3", "-c", "import os, signal; os.kill(1, signal.SIGTERM)"],
               stderr=True, stdout=True)

        def restarted() -> bool:
            found = core.read_namespaced_pod(pod.metadata.name, live_workspace.namespace)
            statuses = found.status.container_statuses or []
            return any(s.restart_count >= 1 and s.ready for s in statuses)

        deadline = time.monotonic() + 120
        while not restarted():
            assert time.monotonic() < deadline, "blue's container did not come back"
            time.sleep(1)
    previous = client.online_deployments.get_logs("blue", ENDPOINT, lines=50, previous=True)
    fresh = client.online_deployments.get_logs("blue", ENDPOINT, lines=50)
    assert "Ready to score" in previous and "Ready to score" in fresh
    # Each container writes its own start time: the two logs are of two containers.
    assert previous != fresh
    shown = live_workspace.mlkube("online-deployment", "get-logs", "-n", "blue", "-e",
                                  ENDPOINT, "--previous", "--lines", "5").stdout
    assert shown.strip() and shown.strip().splitlines()[-1] in previous


def test_another_machine_with_only_the_kubeconfig_lists_and_gets_the_endpoint(
    live_endpoint: LiveEndpoint, live_workspace: LiveWorkspace,
    tmp_path: Path,
) -> None:
    # A fresh workspace: no record of the endpoint, only the compute attached.
    other = attach_workspace(tmp_path / "elsewhere", live_workspace.cluster,
                             live_workspace.namespace)
    listed = json.loads(other.mlkube("online-endpoint", "list", "-o", "json").stdout)
    assert [e["name"] for e in listed] == [ENDPOINT]
    shown = json.loads(other.mlkube("online-endpoint", "show", "-n", ENDPOINT,
                                    "-o", "json").stdout)
    assert shown["scoring_uri"] == live_endpoint.scoring_uri
    assert shown["traffic"] == {"blue": 100, "green": 0}
    deployments = json.loads(other.mlkube("online-deployment", "list", "-e", ENDPOINT,
                                          "-o", "json").stdout)
    assert sorted(d["name"] for d in deployments) == ["blue", "green"]
    assert {d["provisioning_state"] for d in deployments} == {"Succeeded"}


def test_the_studio_shows_the_kubernetes_endpoint_through_the_same_operations(
    live_endpoint: LiveEndpoint, live_workspace: LiveWorkspace, tmp_path: Path,
) -> None:
    with running_studio(live_workspace.folder, tmp_path) as studio, \
            signed_in(studio) as http:
        detail = http.get(f"/api/endpoints/{ENDPOINT}").json()
        assert detail["target"] == "kubernetes" and detail["compute"] == COMPUTE
        assert detail["scoring_uri"] == live_endpoint.scoring_uri
        assert sorted(d["name"] for d in detail["deployments"]) == ["blue", "green"]
        assert {d["state"] for d in detail["deployments"]} == {"Succeeded"}
        page = http.get(f"/endpoints/{ENDPOINT}", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert '<dd id="endpoint-target">kubernetes' in page.text
        assert live_endpoint.primary_key not in page.text
        # The charts scrape the cluster gateway's metrics; the log tail reads the pod's.
        assert http.get(f"/api/endpoints/{ENDPOINT}/metrics").json()["error"] is None
        logs = http.get(f"/api/endpoints/{ENDPOINT}/deployments/blue/logs").json()
        assert "mlkube.server" in logs["text"]


def test_a_new_model_version_rolls_out_with_no_failed_request_under_load(
    live_endpoint: LiveEndpoint, client: MLClient, iris_lgbm_model_root: Path,
    seed_code: Path,
) -> None:
    version_2 = client.models.create_or_update(Model(
        name="iris-lgbm", path=str(iris_lgbm_model_root / "model"), type="mlflow_model"))
    assert version_2.version == "2"
    loops = [ClientLoop(live_endpoint.scoring_uri, live_endpoint.primary_key).start()
             for _ in range(4)]
    try:
        time.sleep(2)  # load before the rollout starts
        (blue, _green) = _deployments_of(client, iris_lgbm_model_root, seed_code,
                                         blue_model="azureml:iris-lgbm:2")
        updated = client.online_deployments.begin_create_or_update(blue).result()
        time.sleep(5)  # and after it ends: the old pods are gone by now
    finally:
        for loop in loops:
            loop.stop()
    assert updated.provisioning_state == "Succeeded"
    failures = [f for loop in loops for f in loop.failures]
    answered = sum(loop.statuses[200] for loop in loops)
    assert failures == [], f"{len(failures)} failed of {answered + len(failures)}: {failures[:5]}"
    assert answered > 100
    shown = client.online_deployments.get("blue", ENDPOINT)
    assert str(shown.model).endswith(":2")


def test_the_clusters_gateway_refuses_what_a_careless_or_hostile_client_sends(
    live_endpoint: LiveEndpoint,
) -> None:
    """The hardening probes, through the cluster's NodePort: each answered at once, in
    the JSON error shape, by the gateway running in its pod."""
    url, key = live_endpoint.scoring_uri, live_endpoint.primary_key.encode()

    def request(method: bytes, *headers: bytes, body: bytes = b"",
                path: bytes = b"/score") -> bytes:
        return (method + b" " + path + b" HTTP/1.1\r\nhost: gw\r\n"
                + b"".join(h + b"\r\n" for h in headers)
                + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    head = exchange(url, request(b"HEAD", b"authorization: Bearer " + key,
                                 path=b"/swagger.json"))
    huge = exchange(url, request(b"POST", b"x-padding: " + b"a" * 100_000))
    crafted = exchange(url, request(b"POST", b"authorization: Bearer eyJhbGciOiJIUzI1NiJ9."
                                    + b"W" * 4000 + b".c2ln", body=b"{}"))
    twice = exchange(url, request(b"POST", b"authorization: Bearer " + key,
                                  b"authorization: Bearer " + key, body=b"{}"))
    with connect(url) as sock:  # 200 MB announced (the limit is 100), 100-continue asked
        sock.sendall(b"POST /score HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer " + key
                     + b"\r\nexpect: 100-continue\r\ncontent-length: 209715200\r\n\r\n")
        oversized = read_response(sock)

    # HEAD has no body: answered as soon as the server's head arrives (it used to wait
    # for a body until the request timeout).
    assert head.status == 200 and head.body == b"" and head.seconds < 2
    assert head.headers["azureml-model-deployment"] == "blue"
    assert huge.status == 431
    assert crafted.status == 401
    assert twice.status == 400 and "authorization" in twice.json()["message"].lower()
    assert oversized.status == 413 and oversized.seconds < 2
    for answer in (huge, crafted, twice, oversized):
        assert set(answer.json()) >= {"error", "error_code", "message"}


def test_delete_removes_every_object_mlkube_made_and_nothing_else(
    live_endpoint: LiveEndpoint, client: MLClient, live_workspace: LiveWorkspace,
) -> None:
    from kubernetes import client as k8s

    namespace = live_workspace.namespace
    with live_workspace.cluster.api() as api:
        core = k8s.CoreV1Api(api)
        # Someone else's object in the same namespace must survive.
        core.create_namespaced_config_map(namespace, k8s.V1ConfigMap(
            metadata=k8s.V1ObjectMeta(name="not-mlkubes")))
        client.online_endpoints.begin_delete(ENDPOINT).result()
        selector = f"{MANAGED},mlkube.io/endpoint={ENDPOINT}"
        apps = k8s.AppsV1Api(api)
        left = [
            *core.list_namespaced_service(namespace, label_selector=selector).items,
            *core.list_namespaced_config_map(namespace, label_selector=selector).items,
            *core.list_namespaced_secret(namespace, label_selector=selector).items,
            *core.list_namespaced_service_account(namespace, label_selector=selector).items,
            *apps.list_namespaced_deployment(namespace, label_selector=selector).items,
            *k8s.AutoscalingV2Api(api).list_namespaced_horizontal_pod_autoscaler(
                namespace, label_selector=selector).items,
            *k8s.PolicyV1Api(api).list_namespaced_pod_disruption_budget(
                namespace, label_selector=selector).items,
        ]
        assert [o.metadata.name for o in left] == []
        assert core.read_namespaced_config_map("not-mlkubes", namespace).metadata.name
        # Pods go with their Deployments (background deletion): they leave soon after.
        deadline = time.monotonic() + 120
        while core.list_namespaced_pod(namespace, label_selector=selector).items:
            assert time.monotonic() < deadline, "the endpoint's pods were not deleted"
            time.sleep(1)
    assert ENDPOINT not in {e.name for e in client.online_endpoints.list()}
