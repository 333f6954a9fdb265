"""Scale to zero on the real cluster: the gateway scales its deployment's Deployment to 0
when idle and back when a request comes, holding that request meanwhile (the native
engine's scaler, where this machine has the binary for the gateway image); and the API
server lets the gateway's account scale that Deployment and nothing else.

What the cluster holds is read with the official Kubernetes client; the gateway's rights
are tried with a token of its own ServiceAccount, as the gateway pod uses it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlkube.entities.deployment_settings import DefaultScaleSettings, OnlineRequestSettings
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import KubernetesOnlineDeployment
from mlkube.operations.client import MLClient
from tests.endpoints.scoring import score, wait_for
from tests.kubernetes_live.conftest import (
    LiveWorkspace,
    expected_gateway_engine,
    gateway_health,
    serving_endpoint,
)

pytestmark = pytest.mark.timeout(900)

ENDPOINT = "zero-live"


@pytest.fixture(scope="module")
def client(live_workspace: LiveWorkspace) -> MLClient:
    return live_workspace.client()


@pytest.fixture(scope="module")
def sleepy_endpoint(client: MLClient, iris_lgbm_model_root: Path) -> Iterator[tuple[str, str]]:
    with serving_endpoint(client, KubernetesOnlineDeployment(
            name="sleepy", endpoint_name=ENDPOINT, model=Model(path=str(
                iris_lgbm_model_root / "model")), instance_count=1,
            # A pod's start (scheduling, model load) fits in the request timeout.
            request_settings=OnlineRequestSettings(request_timeout_ms=120_000),
            scale_settings=DefaultScaleSettings(scale_to_zero_after_s=3))) as served:
        yield served


def _workload_names(live_workspace: LiveWorkspace) -> tuple[str, str]:
    """(the inference-server Deployment of sleepy, the gateway's Deployment)."""
    from kubernetes import client as k8s

    with live_workspace.cluster.api() as api:
        found = k8s.AppsV1Api(api).list_namespaced_deployment(
            live_workspace.namespace, label_selector=f"mlkube.io/endpoint={ENDPOINT}").items
    by_component = {d.metadata.labels["app.kubernetes.io/component"]: d.metadata.name
                    for d in found}
    return by_component["inference-server"], by_component["gateway"]


def _gateway_logs(live_workspace: LiveWorkspace) -> str:
    """The gateway pods' logs without access lines: what a failure is explained by."""
    from kubernetes import client as k8s

    with live_workspace.cluster.api() as api:
        core = k8s.CoreV1Api(api)
        pods = core.list_namespaced_pod(
            live_workspace.namespace, label_selector="app.kubernetes.io/component=gateway,"
            f"mlkube.io/endpoint={ENDPOINT}").items
        logs = [core.read_namespaced_pod_log(pod.metadata.name, live_workspace.namespace)
                for pod in pods]
    return "\n".join(line for log in logs for line in log.splitlines()
                     if " access " not in line)


def _pods(live_workspace: LiveWorkspace) -> int:
    from kubernetes import client as k8s

    with live_workspace.cluster.api() as api:
        return len(k8s.CoreV1Api(api).list_namespaced_pod(
            live_workspace.namespace, label_selector="app.kubernetes.io/component="
            f"inference-server,mlkube.io/endpoint={ENDPOINT}").items)


def _replicas(live_workspace: LiveWorkspace, name: str) -> int:
    from kubernetes import client as k8s

    with live_workspace.cluster.api() as api:
        scale = k8s.AppsV1Api(api).read_namespaced_deployment_scale(
            name, live_workspace.namespace)
    return int(scale.spec.replicas or 0)


def test_an_idle_deployment_goes_to_zero_pods_and_its_next_request_is_held_and_answered(
    sleepy_endpoint: tuple[str, str], client: MLClient, live_workspace: LiveWorkspace,
) -> None:
    uri, key = sleepy_endpoint
    server, _ = _workload_names(live_workspace)
    with httpx.Client(timeout=180, trust_env=False) as http:
        # The engine whose scaler is tried here against the real API server.
        assert gateway_health(http, uri)["engine"] == expected_gateway_engine()
        first = score(http, uri, key)
        assert first.status_code == 200, f"{first.text}\n{_gateway_logs(live_workspace)}"
        # 3 s without a request at both gateway replicas and at the pod, read through
        # its Service once a tick (1 s): a few seconds, but after a wake the Service may
        # answer for the stopping pod for a while (the gateway logs why it stays up).
        went_idle = time.monotonic()
        try:
            wait_for(lambda: _replicas(live_workspace, server) == 0, timeout=3 + 57,
                     what="the gateway scaling the Deployment to 0")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{_gateway_logs(live_workspace)}") from None
        print(f"scaled to zero {time.monotonic() - went_idle:.1f} s after the last request")
        wait_for(lambda: client.online_deployments.get("sleepy", ENDPOINT).current_instances
                 == 0, timeout=60, what="no pod ready")
        # A terminating pod still answers while it drains: wait until it is gone.
        wait_for(lambda: _pods(live_workspace) == 0, timeout=120, what="the pod removed")
        shown = client.online_deployments.get("sleepy", ENDPOINT)
        assert (shown.current_instances, shown.desired_instances) == (0, 0)
        assert shown.provisioning_state == "Succeeded"

        sent = time.monotonic()
        answer = score(http, uri, key)
        held_s = time.monotonic() - sent
    assert answer.status_code == 200, f"{answer.text}\n{_gateway_logs(live_workspace)}"
    assert answer.headers["azureml-model-deployment"] == "sleepy"
    assert held_s > 0.5  # it waited for a pod to start
    assert _replicas(live_workspace, server) == 1
    shown = client.online_deployments.get("sleepy", ENDPOINT)
    assert (shown.current_instances, shown.desired_instances) == (1, 1)


def test_the_gateway_account_may_scale_only_its_own_scale_to_zero_deployment(
    sleepy_endpoint: tuple[str, str], live_workspace: LiveWorkspace,
) -> None:
    from kubernetes import client as k8s

    server, gateway = _workload_names(live_workspace)
    namespace = live_workspace.namespace
    with live_workspace.cluster.api() as admin:
        account = k8s.CoreV1Api(admin).read_namespaced_pod(
            k8s.CoreV1Api(admin).list_namespaced_pod(
                namespace, label_selector="app.kubernetes.io/component=gateway,"
                f"mlkube.io/endpoint={ENDPOINT}").items[0].metadata.name,
            namespace).spec.service_account_name
        token = k8s.CoreV1Api(admin).create_namespaced_service_account_token(
            account, namespace, k8s.AuthenticationV1TokenRequest(
                spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=600))
        ).status.token
        host = admin.configuration.host
        ca = admin.configuration.ssl_ca_cert
    configuration = k8s.Configuration()
    configuration.host, configuration.ssl_ca_cert = host, ca
    configuration.api_key = {"authorization": f"Bearer {token}"}
    with k8s.ApiClient(configuration) as as_gateway:
        apps = k8s.AppsV1Api(as_gateway)
        # Its own scale-to-zero Deployment: read and scaled.
        replicas = apps.read_namespaced_deployment_scale(server, namespace).spec.replicas
        apps.patch_namespaced_deployment_scale(server, namespace,
                                               {"spec": {"replicas": replicas}})
        # Any other Deployment's scale (its own gateway's here), or the Deployment
        # object itself: refused by the API server.
        for forbidden in (lambda: apps.patch_namespaced_deployment_scale(
                              gateway, namespace, {"spec": {"replicas": 5}}),
                          lambda: apps.read_namespaced_deployment(server, namespace),
                          lambda: apps.patch_namespaced_deployment(
                              server, namespace, {"metadata": {"labels": {"x": "y"}}})):
            with pytest.raises(k8s.ApiException) as refused:
                forbidden()
            assert refused.value.status == 403
    assert _replicas(live_workspace, gateway) != 5
