"""CPU autoscaling on the real cluster: a ``target_utilization`` deployment's
HorizontalPodAutoscaler, fed by the cluster's metrics-server, adds a pod when clients load
the endpoint and removes it when they stop, and no request fails on the way.

The cluster's intervals (``cluster/README.md``): metrics-server scrapes every 10 s and
the HPA controller acts every 5 s, so the deadlines below are the deployment's delays plus
a few of those periods, and a margin for a 2-core machine running the whole suite.
While the second pod starts the deployment stays Succeeded (scaling is no update), and
that moment is recorded for the unit tests of ``provisioning_state``
(``MLKUBE_RECORD_FIXTURES=1``).
What the cluster holds is read with the official Kubernetes client; what the user sees
with ``client.online_deployments.get`` (``show``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlkube.entities.deployment_settings import (
    OnlineRequestSettings,
    ResourceRequirementsSettings,
    ResourceSettings,
    TargetUtilizationScaleSettings,
)
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import KubernetesOnlineDeployment, OnlineDeployment
from mlkube.operations.client import MLClient
from tests.endpoints.scoring import ClientLoop
from tests.kubernetes_live.conftest import LiveWorkspace, serving_endpoint
from tests.kubernetes_live.recording import record_rollout

pytestmark = pytest.mark.timeout(900)

ENDPOINT = "hpa-live"
DEPLOYMENT = "elastic"
SCALE = TargetUtilizationScaleSettings(
    min_instances=1, max_instances=2, polling_interval=5,
    # Against a 100m request an idle server sits at a few percent; back-to-back
    # requests from a few clients take it past 100 %.
    target_utilization_percentage=40, scale_up_delay_s=5, scale_down_delay_s=15)
# metrics-server needs two scrapes of a pod for a CPU rate, and the HPA ignores a pod's
# samples taken before it was ready; then one HPA period and the stabilization window.
METRICS_LAG_S = 2 * 10 + 5
MARGIN_S = 90  # a loaded 2-core machine: image pulls, model loads and scrapes run late


@pytest.fixture(scope="module")
def client(live_workspace: LiveWorkspace) -> MLClient:
    return live_workspace.client()


@pytest.fixture(scope="module")
def elastic_endpoint(client: MLClient, iris_lgbm_model_root: Path) -> Iterator[tuple[str, str]]:
    with serving_endpoint(client, KubernetesOnlineDeployment(
            name=DEPLOYMENT, endpoint_name=ENDPOINT, model=Model(path=str(
                iris_lgbm_model_root / "model")), instance_count=1,
            # No CPU limit: a pod loads its model at full speed, and the load is not capped.
            resources=ResourceRequirementsSettings(requests=ResourceSettings(cpu="100m")),
            request_settings=OnlineRequestSettings(request_timeout_ms=30_000),
            scale_settings=SCALE)) as served:
        yield served


def _autoscaler_story(live_workspace: LiveWorkspace) -> str:
    """The HPA's status and events and the pods' CPU: what explains an autoscaler that
    did not act."""
    from kubernetes import client as k8s

    namespace = live_workspace.namespace
    with live_workspace.cluster.api() as api:
        found = k8s.AutoscalingV2Api(api).list_namespaced_horizontal_pod_autoscaler(
            namespace, label_selector=f"mlkube.io/endpoint={ENDPOINT}").items
        lines = [f"HPA {hpa.metadata.name}: {api.sanitize_for_serialization(hpa.status)}"
                 for hpa in found]
        for hpa in found:
            events = k8s.CoreV1Api(api).list_namespaced_event(
                namespace, field_selector=f"involvedObject.name={hpa.metadata.name}").items
            lines += [f"  event {e.reason}: {e.message}" for e in events]
        try:
            usage: dict[str, Any] = k8s.CustomObjectsApi(api).list_namespaced_custom_object(
                "metrics.k8s.io", "v1beta1", namespace, "pods")
            lines += [f"  pod {item['metadata']['name']}: "
                      f"{[c['usage'] for c in item['containers']]}"
                      for item in usage["items"]]
        except k8s.ApiException as error:
            lines.append(f"  metrics API: {error.status} {error.reason}")
    return "\n".join(lines)


def _wait_for_instances(client: MLClient, live_workspace: LiveWorkspace,
                        *, current: int | None = None, desired: int, timeout: float,
                        what: str) -> tuple[float, OnlineDeployment]:
    """Poll ``show`` until it reports ``desired`` instances (and ``current`` ready ones,
    unless None): the seconds it took and what it showed then. Past the deadline, fail
    with what the HPA said."""
    started = time.monotonic()
    shown: Any = None
    while time.monotonic() - started < timeout:
        shown = client.online_deployments.get(DEPLOYMENT, ENDPOINT)
        if shown.desired_instances == desired and current in (None, shown.current_instances):
            return time.monotonic() - started, shown
        time.sleep(1)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what}: show reports current "
        f"{shown.current_instances}, desired {shown.desired_instances}\n"
        f"{_autoscaler_story(live_workspace)}")


def test_load_adds_a_pod_within_the_delay_and_its_end_drains_back_to_min_without_failures(
    elastic_endpoint: tuple[str, str], client: MLClient, live_workspace: LiveWorkspace,
) -> None:
    uri, key = elastic_endpoint
    _wait_for_instances(client, live_workspace, current=1, desired=1, timeout=MARGIN_S,
                        what="the one pod of min_instances, idle")
    # One light client throughout: requests keep flowing while pods come and go.
    steady = ClientLoop(uri, key, pause_s=0.2).start()
    load = [ClientLoop(uri, key).start() for _ in range(4)]
    load_started = time.monotonic()
    try:
        up_s, scaling = _wait_for_instances(
            client, live_workspace, desired=2,
            timeout=SCALE.scale_up_delay_s + METRICS_LAG_S + MARGIN_S,
            what="the HPA asking for a second pod under load")
        # While the pod starts the deployment is scaling, which is no update (as in Azure
        # ML): Succeeded once the cluster's controllers have seen the new replica count.
        seen = time.monotonic()
        while (scaling.current_instances == 1 and scaling.provisioning_state != "Succeeded"
               and time.monotonic() - seen < 10):
            time.sleep(0.5)
            scaling = client.online_deployments.get(DEPLOYMENT, ENDPOINT)
        if scaling.current_instances == 1:
            record_rollout(live_workspace.cluster, live_workspace.namespace, ENDPOINT,
                           DEPLOYMENT, "hpa-scaling-up", description=(
                               "The HPA raised replicas from 1 to 2 under CPU load; the "
                               "second pod is starting."))
            assert scaling.provisioning_state == "Succeeded", _autoscaler_story(live_workspace)
        _, shown = _wait_for_instances(
            client, live_workspace, current=2, desired=2, timeout=MARGIN_S + 60,
            what="the second pod ready")
        ready_s = time.monotonic() - load_started
        assert shown.provisioning_state == "Succeeded"
    finally:
        for loop in load:
            loop.stop()
    down_s, _ = _wait_for_instances(
        client, live_workspace, current=1, desired=1,
        timeout=SCALE.scale_down_delay_s + METRICS_LAG_S + MARGIN_S,
        what="the HPA draining back to min_instances once the load stopped")
    # The removed pod's connections drain while the light client keeps scoring.
    time.sleep(5)
    steady.stop()
    print(f"\nautoscaling: desired 2 after {up_s:.1f} s of load, second pod ready after "
          f"{ready_s:.1f} s; back to 1 {down_s:.1f} s after the load stopped")
    for loop in (steady, *load):
        assert loop.failures == [], loop.failures[:5]
    assert sum(loop.statuses[200] for loop in load) > 100  # the load was real
    assert steady.statuses[200] > 20
