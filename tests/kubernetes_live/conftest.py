"""Fixtures for the tests on a real Kubernetes cluster: the one `make cluster` builds and
starts on this machine (``cluster/``), or any cluster named by the same two variables.

``KUBECONFIG`` and ``MLKUBE_TEST_K8S_REGISTRY`` (a registry this machine's Docker pushes
to and the cluster's node pulls from) must be set: ``make test`` sets them, and by hand
``eval "$(make -s cluster)"`` does. Without them these tests fail with that instruction;
they never skip. Each test module works in a namespace of its own, deleted at its end,
and drives mlkube as a user does: ``MLClient`` over a workspace with the cluster attached
as a compute, and the ``mlkube`` command. What the tests check in the cluster they read
with the official Kubernetes client, not with mlkube's own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlkube.entities.compute import KubernetesCompute
from mlkube.entities.online_deployment import OnlineDeployment
from mlkube.entities.online_endpoint import KubernetesOnlineEndpoint
from mlkube.environments.server_package import SERVER_WHEEL_VARIABLE, build_server_wheel
from mlkube.operations.client import MLClient
from tests.docker.conftest import HOST_CA_BUNDLE

COMPUTE = "k8s"
MLKUBE = str(Path(sys.executable).with_name("mlkube"))
MLFLOW = str(Path(sys.executable).with_name("mlflow"))
#: The node's address: the one address of this machine the cluster's pods reach.
NODE_IP = "10.201.0.1"


@dataclass(frozen=True)
class LiveCluster:
    kubeconfig: Path
    registry: str

    def api(self) -> Any:
        """A client of the official ``kubernetes`` package for this cluster."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))


@pytest.fixture(scope="session")
def live_cluster() -> LiveCluster:
    kubeconfig = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    registry = os.environ.get("MLKUBE_TEST_K8S_REGISTRY")
    if not kubeconfig or not registry:
        pytest.fail("These tests need a Kubernetes cluster: KUBECONFIG and "
                    "MLKUBE_TEST_K8S_REGISTRY are not set. Start the test cluster and set "
                    "both with `eval \"$(make -s cluster)\"` (as root), or run `make test`.")
    if not Path(kubeconfig).is_file():
        pytest.fail(f"KUBECONFIG names {kubeconfig}, which does not exist: is the cluster "
                    "up? (`make cluster`)")
    return LiveCluster(Path(kubeconfig), registry)


@pytest.fixture(scope="session", autouse=True)
def _build_settings() -> Iterator[None]:
    """Images built in these tests trust the host's CA bundle (pip inside the build
    reaches PyPI only with it), and share one server wheel: other work in the source tree
    would otherwise change the wheel and so every image's content tag mid-run."""
    saved = {name: os.environ.get(name) for name in ("MLKUBE_CA_BUNDLE", SERVER_WHEEL_VARIABLE)}
    os.environ["MLKUBE_CA_BUNDLE"] = str(HOST_CA_BUNDLE)
    os.environ[SERVER_WHEEL_VARIABLE] = str(build_server_wheel())
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@dataclass(frozen=True)
class LiveWorkspace:
    """A workspace folder with the cluster attached as compute ``k8s`` in ``namespace``."""

    folder: Path
    namespace: str
    cluster: LiveCluster

    def client(self) -> MLClient:
        return MLClient(workspace=self.folder)

    def mlkube(self, *args: str, check: bool = True, timeout: float = 600
               ) -> subprocess.CompletedProcess[str]:
        """Run the ``mlkube`` command in this workspace, as a user would."""
        env = {**os.environ, "MLKUBE_WORKSPACE": str(self.folder)}
        done = subprocess.run([MLKUBE, *args], capture_output=True, text=True, env=env,
                              timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"mlkube {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout}\n{done.stderr}")
        return done


def attach_workspace(folder: Path, cluster: LiveCluster, namespace: str, *,
                     kubeconfig: Path | None = None, registry: str | None = None
                     ) -> LiveWorkspace:
    """A workspace in ``folder`` with compute ``k8s`` attached (not yet installed)."""
    MLClient(workspace=folder).computes.attach(KubernetesCompute(
        name=COMPUTE, kubeconfig=str(kubeconfig or cluster.kubeconfig), namespace=namespace,
        registry=registry or cluster.registry))
    return LiveWorkspace(folder, namespace, cluster)


@contextmanager
def serving_endpoint(client: MLClient, deployment: OnlineDeployment
                     ) -> Iterator[tuple[str, str]]:
    """Endpoint ``deployment.endpoint_name`` (key auth) on the compute with all its traffic
    on ``deployment``: (scoring URI, primary key); the endpoint is deleted at the end."""
    name = deployment.endpoint_name or ""
    endpoint = client.online_endpoints.begin_create_or_update(KubernetesOnlineEndpoint(
        name=name, compute=COMPUTE, auth_mode="key")).result()
    try:
        created = client.online_deployments.begin_create_or_update(deployment).result()
        assert created.provisioning_state == "Succeeded"
        endpoint.traffic = {deployment.name: 100}
        endpoint = client.online_endpoints.begin_create_or_update(endpoint).result()
        yield endpoint.scoring_uri or "", client.online_endpoints.get_keys(name).primary_key
    finally:
        client.online_endpoints.begin_delete(name).result()


def expected_gateway_engine() -> str:
    """The engine the gateway pods must report in their health JSON: native, since the
    gateway image carries this machine's ``mlkube-gateway`` (``make install`` builds it;
    these tests run after it), unless ``MLKUBE_GATEWAY_ENGINE=python`` says otherwise."""
    from mlkube.gateway.engine import engine_choice, image_binary

    if engine_choice() == "python":
        return "python"
    assert image_binary() is not None, (
        "No statically linked mlkube-gateway is installed beside this Python or on PATH, so "
        "the gateway image would serve with the Python engine: run `make install` (needs Go).")
    return "native"


def gateway_health(http: httpx.Client, scoring_uri: str) -> dict[str, Any]:
    """``GET /`` of the endpoint's gateway (no key), at its scoring URI's address."""
    base = scoring_uri.split("/score", 1)[0]
    answer = http.get(base + "/")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def unique_namespace(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def delete_namespace(cluster: LiveCluster, namespace: str) -> None:
    from kubernetes import client

    with cluster.api() as api:
        try:
            client.CoreV1Api(api).delete_namespace(namespace, propagation_policy="Background")
        except client.ApiException as error:
            if error.status != 404:
                raise


@pytest.fixture(scope="module")
def live_workspace(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                   live_cluster: LiveCluster) -> Iterator[LiveWorkspace]:
    """This module's workspace, its compute installed (``mlkube cluster install``) in a
    namespace of its own, deleted with everything in it at the end."""
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
    namespace = unique_namespace(f"t-{module}"[:40])
    workspace = attach_workspace(tmp_path_factory.mktemp(f"ws-{module}"), live_cluster,
                                 namespace)
    workspace.mlkube("cluster", "install", "--compute", COMPUTE)
    yield workspace
    delete_namespace(live_cluster, namespace)


@pytest.fixture(scope="session")
def expected_prediction(iris_lgbm_model_root: Path) -> list[float]:
    """What the LightGBM model predicts in-process for the seed's request."""
    import mlflow.lightgbm
    import numpy as np

    booster = mlflow.lightgbm.load_model(str(iris_lgbm_model_root / "model"))
    return [float(v) for v in booster.predict(np.array([[1.0, 2.0, 3.0, 4.0]]))[0]]


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


@contextmanager
def tracking_server_on_node(folder: Path) -> Iterator[str]:
    """A real MLflow tracking server with --serve-artifacts on the node's address, so pods
    reach the workspace as a team's cluster reaches its shared one."""
    with socket.socket() as sock:
        sock.bind((NODE_IP, 0))
        port = int(sock.getsockname()[1])
    url = f"http://{NODE_IP}:{port}"
    with open(folder / "server.log", "wb") as server_log:
        process = subprocess.Popen(
            [MLFLOW, "server", "--host", NODE_IP, "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{folder}/mlflow.db", "--serve-artifacts",
             "--artifacts-destination", str(folder / "artifacts"),
             "--allowed-hosts", f"{NODE_IP}:{port},{NODE_IP}"],
            stdout=subprocess.DEVNULL, stderr=server_log, cwd=folder,
            # Its own job executor is not what is tested, and costs a start-up minute.
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("mlflow server did not start:\n"
                            + (folder / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def tracking_uri(url: str) -> Iterator[None]:
    """``MLKUBE_TRACKING_URI`` set to ``url`` meanwhile: the workspace, for this process and
    the ``mlkube`` commands it runs."""
    saved = os.environ.get("MLKUBE_TRACKING_URI")
    os.environ["MLKUBE_TRACKING_URI"] = url
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MLKUBE_TRACKING_URI", None)
        else:
            os.environ["MLKUBE_TRACKING_URI"] = saved
