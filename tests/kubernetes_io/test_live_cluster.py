"""Live test against a real cluster: install, deploy two deployments of the iris model,
score through the endpoint's scoring URI, shift traffic, read logs and state back, delete.

Runs only when ``KUBECONFIG`` is set (no cluster is reachable in CI). It also needs:

- ``MLKUBE_TEST_K8S_REGISTRY``: a registry this machine's Docker can push to and the
  cluster's nodes can pull from (e.g. ``localhost:5001`` of a kind/k3d cluster);
- a gateway address this machine reaches: ``MLKUBE_TEST_K8S_SERVICE_TYPE`` is
  ``LoadBalancer`` by default (k3d, minikube tunnel, cloud), or ``NodePort`` when the
  API server's host also serves node ports;
- optionally ``MLKUBE_TEST_K8S_CONTEXT`` and ``MLKUBE_TEST_K8S_NAMESPACE``
  (default ``mlkube-live-test``).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest

from mlkube.entities.compute import KubernetesCompute
from mlkube.entities.online_deployment import KubernetesOnlineDeployment
from mlkube.entities.online_endpoint import KubernetesOnlineEndpoint
from mlkube.targets.base import PreparedDeployment
from mlkube.targets.kubernetes import install as installer
from mlkube.targets.kubernetes import labels as lbl
from mlkube.targets.kubernetes.target import KubernetesTarget
from tests.docker.conftest import HOST_CA_BUNDLE

pytestmark = pytest.mark.skipif(
    not os.environ.get("KUBECONFIG"),
    reason="needs a Kubernetes cluster: set KUBECONFIG (and MLKUBE_TEST_K8S_REGISTRY) to run "
           "the live deploy / score / traffic shift / delete test")

SEED_REQUEST = {"data": [[1, 2, 3, 4]]}
SCORE_DEADLINE_S = 240.0


@pytest.fixture(scope="module")
def target(server_wheel) -> KubernetesTarget:
    registry = os.environ.get("MLKUBE_TEST_K8S_REGISTRY")
    if not registry:
        pytest.fail("KUBECONFIG is set but MLKUBE_TEST_K8S_REGISTRY is not: name a registry "
                    "the cluster pulls from and this machine pushes to.")
    compute = KubernetesCompute(
        name="live", kubeconfig=os.environ["KUBECONFIG"].split(os.pathsep)[0],
        context=os.environ.get("MLKUBE_TEST_K8S_CONTEXT"),
        namespace=os.environ.get("MLKUBE_TEST_K8S_NAMESPACE", "mlkube-live-test"),
        registry=registry)
    live = KubernetesTarget(compute, server_wheel=server_wheel, ca_bundle=HOST_CA_BUNDLE)
    installer.install(live.cluster, progress=print)
    return live


@pytest.fixture(scope="module")
def prepared(iris_lgbm_model_root: Path, model_environment) -> PreparedDeployment:
    return PreparedDeployment(
        model_dir=iris_lgbm_model_root, model_folder="model", model_name="iris-lgbm",
        model_version="1", mlflow_model=True, code_dir=None, scoring_script=None,
        environment=model_environment)


def score(uri: str, key: str, *, expect_deployment: str, expected: np.ndarray) -> None:
    """Poll until the endpoint answers from ``expect_deployment`` (mounted config and keys
    reach the gateway within the kubelet's sync period)."""
    deadline = time.monotonic() + SCORE_DEADLINE_S
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.post(uri, json=SEED_REQUEST, timeout=30,
                                  headers={"Authorization": f"Bearer {key}"})
            served_by = response.headers.get("azureml-model-deployment")
            if response.status_code == 200 and served_by == expect_deployment:
                assert np.allclose(np.asarray(response.json()), expected, atol=1e-6)
                return
            last = f"{response.status_code} from {served_by}: {response.text[:200]}"
        except httpx.TransportError as error:
            last = repr(error)
        time.sleep(2)
    pytest.fail(f"{uri} did not answer from {expect_deployment} in {SCORE_DEADLINE_S}s: {last}")


def test_deploy_score_shift_traffic_and_delete_on_a_live_cluster(target, prepared):
    import mlflow.lightgbm

    booster = mlflow.lightgbm.load_model(str(prepared.model_dir / "model"))
    expected = np.asarray(booster.predict(np.array(SEED_REQUEST["data"], dtype=float)))
    name = f"live-{uuid.uuid4().hex[:8]}"
    service_type = os.environ.get("MLKUBE_TEST_K8S_SERVICE_TYPE", "LoadBalancer")
    endpoint = KubernetesOnlineEndpoint(name=name, compute="live", auth_mode="key",
                                        properties={"mlkube.io/service-type": service_type,
                                                    "mlkube.io/gateway-replicas": "1"})
    try:
        target.apply_endpoint(endpoint, progress=print)
        for deployment in ("blue", "green"):
            applied = target.apply_deployment(
                KubernetesOnlineDeployment(name=deployment, endpoint_name=name,
                                           model=str(prepared.model_dir / "model")),
                prepared, progress=print)
            assert applied.provisioning_state == "Succeeded"

        endpoint.traffic = {"blue": 100}
        target.apply_endpoint(endpoint, progress=print)
        uri, key = target.scoring_uri(name), target.endpoint_keys(name).primary_key
        score(uri, key, expect_deployment="blue", expected=expected)

        endpoint.traffic = {"green": 100}
        shifted = target.apply_endpoint(endpoint, progress=print)
        assert shifted.traffic == {"green": 100}
        score(uri, key, expect_deployment="green", expected=expected)

        # State reads back from the cluster alone, as another machine would see it.
        other = KubernetesTarget(target.compute)
        assert name in {e.name for e in other.list_endpoints()}
        assert {d.name for d in other.list_deployments(name)} == {"blue", "green"}
        assert other.deployment_logs(name, "blue", lines=50,
                                     container_type="inference-server").strip()
    finally:
        target.delete_endpoint(name, progress=print)
    assert target.cluster.list_managed(lbl.endpoint_selector(name)) == []
