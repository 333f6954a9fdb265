"""The registry watcher running in the cluster, as the README tells a team to run it: its
image built by ``mlkube watch-registry --print-manifest --build``, the printed Deployment
applied with the two Secrets it names (the workspace's tracking URI; a kubeconfig), the
node's Docker engine for its builds. Moving the alias then rolls the new version out from
inside the cluster, with a client scoring throughout and no request failing.

The workspace is a real ``mlflow server`` on the node's address, the one a pod reaches;
the pod's kubeconfig names the API server there too, so the scoring URI it computes (a
NodePort on that host) is one it can reach to see the gateway apply the change.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mlkube.entities.compute import KubernetesCompute
from mlkube.entities.online_deployment import KubernetesOnlineDeployment
from mlkube.entities.online_endpoint import KubernetesOnlineEndpoint
from mlkube.operations.client import MLClient
from tests.endpoints.releases import register_releases
from tests.endpoints.scoring import ClientLoop, wait_for
from tests.kubernetes_live.conftest import (
    COMPUTE,
    NODE_IP,
    LiveCluster,
    LiveWorkspace,
    delete_namespace,
    tracking_server_on_node,
    tracking_uri,
    unique_namespace,
)

pytestmark = pytest.mark.timeout(1200)

ENDPOINT = "watched-live"
MODEL = "iris-watched"


@pytest.fixture(scope="module")
def watched_workspace(tmp_path_factory: pytest.TempPathFactory,
                      live_cluster: LiveCluster) -> Iterator[tuple[LiveWorkspace, str]]:
    """A workspace on a tracking server on the node, its compute attached without a
    kubeconfig path (it reads ``$KUBECONFIG``, here as in the pod), installed in a
    namespace of this module's own."""
    namespace = unique_namespace("t-watcher-pod")
    with tracking_server_on_node(tmp_path_factory.mktemp("mlflow-server")) as url, \
            tracking_uri(url):
        folder = tmp_path_factory.mktemp("ws-watcher-pod")
        MLClient(workspace=folder).computes.attach(KubernetesCompute(
            name=COMPUTE, namespace=namespace, registry=live_cluster.registry))
        workspace = LiveWorkspace(folder, namespace, live_cluster)
        try:
            workspace.mlkube("cluster", "install", "--compute", COMPUTE)
            yield workspace, url
        finally:
            delete_namespace(live_cluster, namespace)


def _pod_kubeconfig(cluster: LiveCluster) -> str:
    """The admin kubeconfig with the API server at the node's address (loopback in a pod
    is the pod's own)."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    for entry in config["clusters"]:
        server = entry["cluster"]["server"]
        entry["cluster"]["server"] = server.replace("127.0.0.1", NODE_IP)
    return yaml.safe_dump(config)


def _watcher_log(workspace: LiveWorkspace) -> str:
    from kubernetes import client as k8s

    with workspace.cluster.api() as api:
        core = k8s.CoreV1Api(api)
        pods = core.list_namespaced_pod(
            workspace.namespace,
            label_selector="app.kubernetes.io/component=registry-watcher").items
        if not pods:
            return "(no watcher pod)"
        try:
            return str(core.read_namespaced_pod_log(pods[0].metadata.name,
                                                    workspace.namespace))
        except k8s.ApiException as error:
            return f"(no log yet: {error.reason}; phase {pods[0].status.phase})"


def test_the_watcher_in_the_cluster_rolls_an_alias_move_out_with_no_failed_request(
    watched_workspace: tuple[LiveWorkspace, str], iris_lgbm_model_root: Path,
    constant_iris_model_root: Path,
) -> None:
    from kubernetes import client as k8s

    workspace, url = watched_workspace
    client = workspace.client()
    registry, versions = register_releases(
        client, MODEL, [iris_lgbm_model_root, constant_iris_model_root])
    endpoint = client.online_endpoints.begin_create_or_update(KubernetesOnlineEndpoint(
        name=ENDPOINT, compute=COMPUTE, auth_mode="key"), progress=None).result()
    client.online_deployments.begin_create_or_update(KubernetesOnlineDeployment(
        name="main", endpoint_name=ENDPOINT, model=f"azureml:{MODEL}@champion",
        follow_model_label=True), progress=None).result()
    endpoint.traffic = {"main": 100}
    endpoint = client.online_endpoints.begin_create_or_update(endpoint, progress=None).result()

    # What the README says to run, then to apply.
    printed = workspace.mlkube(
        "watch-registry", "--print-manifest", "--build", "--registry",
        workspace.cluster.registry, "--namespace", workspace.namespace, "--endpoint", ENDPOINT,
        "--interval", "2", "--docker-socket", "/var/run/docker.sock", timeout=900)
    (manifest,) = list(yaml.safe_load_all(printed.stdout))
    with workspace.cluster.api() as api:
        core = k8s.CoreV1Api(api)
        core.create_namespaced_secret(workspace.namespace, k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="mlkube-workspace"),
            string_data={"MLKUBE_TRACKING_URI": url}))
        core.create_namespaced_secret(workspace.namespace, k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="mlkube-kubeconfig"),
            data={"config": base64.b64encode(
                _pod_kubeconfig(workspace.cluster).encode()).decode()}))
        k8s.AppsV1Api(api).create_namespaced_deployment(workspace.namespace, manifest)

    loop = ClientLoop(endpoint.scoring_uri or "",
                      client.online_endpoints.get_keys(ENDPOINT).primary_key).start()
    try:
        wait_for(lambda: "watching the registry" in _watcher_log(workspace), timeout=300,
                 what=f"the watcher pod to start: {_watcher_log(workspace)[-2000:]}")
        wait_for(lambda: len(loop.bodies) >= 20, timeout=60, what="version 1 to answer")

        moved = time.monotonic()
        registry.set_registered_model_alias(MODEL, "champion", versions[1])
        try:
            wait_for(lambda: bool(loop.bodies) and loop.bodies[-1] == "[7]", timeout=600,
                     what="the new version to answer")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{_watcher_log(workspace)[-4000:]}") from None
        print(f"alias move to the new version answering: {time.monotonic() - moved:.0f} s "
              "(the watcher in the cluster)")
    finally:
        loop.stop()
    assert loop.failures == [], loop.failures[:5]
    log = _watcher_log(workspace)
    assert f"{ENDPOINT}/main: rolled out {MODEL}:{versions[1]}" in log, log[-3000:]
    shown = json.loads(workspace.mlkube(
        "online-deployment", "show", "-n", "main", "-e", ENDPOINT, "-o", "json").stdout)
    assert shown["served_model"] == f"{MODEL}:{versions[1]}"
    assert shown["label_rollout"]["outcome"] == "rolled_out"
