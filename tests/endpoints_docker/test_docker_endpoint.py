"""End to end on ``compute: docker``: the same behaviour as the local target (gateway,
keys, routing, readiness, failure reports, restarts), with every instance a container of
an image built from the deployment, scored over HTTP with the endpoint's key.

The tests share one endpoint and run in file order; the last one deletes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from mlkube.entities.code_configuration import CodeConfiguration
from mlkube.entities.deployment_settings import ProbeSettings
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import ManagedOnlineDeployment
from mlkube.entities.online_endpoint import ManagedOnlineEndpoint
from mlkube.errors import (
    ConflictError,
    DeploymentFailedError,
    LocalEndpointNotFoundError,
    TargetError,
)
from mlkube.operations.client import MLClient
from mlkube.targets.docker.containers import DEPLOYMENT_LABEL, ENDPOINT_LABEL, STATE_LABEL
from mlkube.targets.docker.engine import MANAGED_BY_LABEL, ContainerState, DockerEngine
from tests.endpoints.conftest import no_code_deployment
from tests.endpoints.scoring import (
    ClientLoop,
    assert_header_picks_the_deployment,
    assert_rejects_missing_and_wrong_keys,
    score,
    wait_for,
)
from tests.endpoints_docker.conftest import DockerEndpoint
from tests.models import SAMPLE_REQUEST
from tests.studio.conftest import running_studio, signed_in

# The first build on a machine installs the environment (mlflow, LightGBM, ...): minutes.
pytestmark = pytest.mark.timeout(900)


def _containers(engine: DockerEngine, endpoint: DockerEndpoint,
                deployment: str | None = None) -> list[ContainerState]:
    labels = {STATE_LABEL: str(endpoint.state_dir), ENDPOINT_LABEL: endpoint.name}
    if deployment is not None:
        labels[DEPLOYMENT_LABEL] = deployment
    return engine.list_containers(labels)


def test_no_code_and_seed_script_containers_answer_the_seed_request_with_predictions(
    docker_endpoint: DockerEndpoint, http: httpx.Client, expected_prediction: list[list[float]],
) -> None:
    for deployment in ("blue", "seed"):
        response = score(http, docker_endpoint.scoring_uri, docker_endpoint.primary_key,
                         deployment=deployment)
        assert response.status_code == 200, response.text
        assert response.headers["azureml-model-deployment"] == deployment
        assert response.json()[0] == pytest.approx(expected_prediction[0])


def test_sdk_invoke_sends_the_seed_request_file_with_the_endpoint_key(
    docker_endpoint: DockerEndpoint, docker_client: MLClient,
    expected_prediction: list[list[float]],
) -> None:
    answer = docker_client.online_endpoints.invoke(
        docker_endpoint.name, request_file=str(SAMPLE_REQUEST))
    assert json.loads(answer)[0] == pytest.approx(expected_prediction[0])


def test_gateway_rejects_missing_and_wrong_keys_with_401(
    docker_endpoint: DockerEndpoint, http: httpx.Client,
) -> None:
    assert_rejects_missing_and_wrong_keys(http, docker_endpoint.scoring_uri)


def test_header_picks_the_container_deployment_regardless_of_traffic(
    docker_endpoint: DockerEndpoint, http: httpx.Client,
) -> None:
    assert_header_picks_the_deployment(
        http, docker_endpoint.scoring_uri, docker_endpoint.primary_key,
        weighted="blue", pinned="seed")


def test_instances_are_labelled_containers_published_on_loopback_only(
    docker_endpoint: DockerEndpoint, engine: DockerEngine,
) -> None:
    import docker

    for deployment in ("blue", "seed"):
        (container,) = _containers(engine, docker_endpoint, deployment)
        assert container.running
        assert container.labels[MANAGED_BY_LABEL] == "mlkube"
        assert container.labels[ENDPOINT_LABEL] == docker_endpoint.name
        info = docker.APIClient(version="auto").inspect_container(container.id)
        hosts = {binding["HostIp"] for bindings in info["HostConfig"]["PortBindings"].values()
                 for binding in bindings}
        assert hosts == {"127.0.0.1"}


def test_storage_initializer_log_holds_the_image_build(
    docker_endpoint: DockerEndpoint, docker_client: MLClient,
) -> None:
    log = docker_client.online_deployments.get_logs(
        "seed", docker_endpoint.name, container_type="storage-initializer")
    assert "mlkube/iris-docker-seed:" in log
    assert "code:" in log  # what preparation did comes first
    inference = docker_client.online_deployments.get_logs("seed", docker_endpoint.name,
                                                            lines=200)
    assert "published on 127.0.0.1" in inference  # the instance log is the container's


def test_reapplying_an_unchanged_deployment_reuses_its_image_and_drops_no_request(
    docker_endpoint: DockerEndpoint, docker_client: MLClient, iris_lgbm_model_root: Path,
    engine: DockerEngine,
) -> None:
    before = {c.id for c in _containers(engine, docker_endpoint, "blue")}
    loop = ClientLoop(docker_endpoint.scoring_uri, docker_endpoint.primary_key).start()
    try:
        docker_client.online_deployments.begin_create_or_update(
            no_code_deployment("blue", docker_endpoint.name, iris_lgbm_model_root),
            progress=None).result()
    finally:
        loop.stop()
    log = docker_client.online_deployments.get_logs(
        "blue", docker_endpoint.name, container_type="storage-initializer")
    assert "is up to date: nothing to build" in log
    assert loop.failures == [] and loop.statuses[200] > 0, loop.statuses
    # The replaced container is stopped and removed once the gateway stopped using it.
    wait_for(lambda: len(_containers(engine, docker_endpoint, "blue")) == 1, timeout=30,
             what="the replaced blue container to be removed")
    (after,) = _containers(engine, docker_endpoint, "blue")
    assert after.id not in before


def test_killed_container_is_replaced_and_the_endpoint_answers_again(
    docker_endpoint: DockerEndpoint, engine: DockerEngine, http: httpx.Client,
) -> None:
    import docker

    (victim,) = _containers(engine, docker_endpoint, "blue")
    docker.APIClient(version="auto").kill(victim.id)

    def replaced_and_ready() -> bool:
        running = [c for c in _containers(engine, docker_endpoint, "blue") if c.running]
        return bool(running) and running[0].id != victim.id and score(
            http, docker_endpoint.scoring_uri, docker_endpoint.primary_key,
            deployment="blue").status_code == 200

    wait_for(replaced_and_ready, timeout=180, what="a new blue container to answer")
    answers = [score(http, docker_endpoint.scoring_uri, docker_endpoint.primary_key,
                     deployment="blue").status_code for _ in range(20)]
    assert answers == [200] * 20


def test_deployment_whose_init_raises_fails_with_the_exception_and_leaves_no_container(
    docker_endpoint: DockerEndpoint, docker_client: MLClient, iris_lgbm_model_root: Path,
    engine: DockerEngine, http: httpx.Client, tmp_path: Path,
) -> None:
    code = tmp_path / "broken"
    code.mkdir()
    (code / "score.py").write_text(
        "def init():\n    raise RuntimeError('weights file is corrupt')\n\n"
        "def run(raw_data):\n    return raw_data\n")
    deployment = ManagedOnlineDeployment(
        name="broken", endpoint_name=docker_endpoint.name,
        model=Model(path=str(iris_lgbm_model_root / "model")),
        code_configuration=CodeConfiguration(code=str(code), scoring_script="score.py"),
        readiness_probe=ProbeSettings(initial_delay=5, period=1, failure_threshold=60))
    deployments = docker_client.online_deployments
    with pytest.raises(DeploymentFailedError) as failure:
        deployments.begin_create_or_update(deployment, progress=None).result()
    message = str(failure.value)
    assert "RuntimeError" in message and "weights file is corrupt" in message
    assert deployments.get("broken", docker_endpoint.name).provisioning_state == "Failed"
    assert "weights file is corrupt" in deployments.get_logs("broken", docker_endpoint.name)
    pinned = score(http, docker_endpoint.scoring_uri, docker_endpoint.primary_key,
                   deployment="broken")
    assert pinned.status_code == 424
    assert "weights file is corrupt" in pinned.json()["message"]
    deployments.begin_delete("broken", docker_endpoint.name, progress=None).result()
    with pytest.raises(LocalEndpointNotFoundError):
        deployments.get("broken", docker_endpoint.name)
    assert _containers(engine, docker_endpoint, "broken") == []


def test_update_leaving_compute_out_keeps_the_endpoint_on_docker_and_compute_cannot_change(
    docker_endpoint: DockerEndpoint, docker_client: MLClient, http: httpx.Client,
) -> None:
    endpoints = docker_client.online_endpoints
    updated = endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name=docker_endpoint.name, auth_mode="key"),
        progress=None).result()
    assert updated.compute == "docker"
    # Kept when the update leaves it out; the deployment without traffic shows 0, as in
    # Azure ML.
    assert updated.traffic == {"blue": 100, "seed": 0}
    assert endpoints.get(docker_endpoint.name).compute == "docker"
    with pytest.raises(ConflictError) as refused:
        endpoints.begin_create_or_update(
            ManagedOnlineEndpoint(name=docker_endpoint.name, compute="local"), progress=None)
    assert "compute cannot change" in refused.value.message
    assert score(http, docker_endpoint.scoring_uri, docker_endpoint.primary_key).status_code == 200


def test_the_studio_shows_the_docker_endpoint_through_the_same_operations(
        docker_endpoint: DockerEndpoint, docker_workspace: Path, http: httpx.Client,
        tmp_path: Path) -> None:
    with running_studio(docker_workspace, tmp_path) as studio, signed_in(studio) as browser:
        detail = browser.get(f"/api/endpoints/{docker_endpoint.name}").json()
        assert detail["target"] == "docker" and detail["state"] == "Succeeded"
        assert detail["scoring_uri"] == docker_endpoint.scoring_uri
        deployments = {d["name"]: d for d in detail["deployments"]}
        assert deployments["blue"]["state"] == "Succeeded"
        assert deployments["seed"]["scoring_script"] == "score.py"
        page = browser.get(f"/endpoints/{docker_endpoint.name}",
                           headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert '<dd id="endpoint-target">docker' in page.text
        assert docker_endpoint.primary_key not in page.text
        # The charts scrape the container gateway's metrics; the log tail reads the
        # container's log.
        http.post(docker_endpoint.scoring_uri, json={"data": [[1, 2, 3, 4]]},
                  headers={"Authorization": f"Bearer {docker_endpoint.primary_key}"})
        assert browser.get(f"/api/endpoints/{docker_endpoint.name}/metrics"
                           ).json()["error"] is None
        logs = browser.get(f"/api/endpoints/{docker_endpoint.name}/deployments/blue/logs")
        assert "mlkube.server" in logs.json()["text"]


def test_deleting_the_endpoint_leaves_no_container_with_its_label(
    docker_endpoint: DockerEndpoint, docker_client: MLClient, engine: DockerEngine,
    http: httpx.Client,
) -> None:
    assert len(_containers(engine, docker_endpoint)) == 2
    docker_client.online_endpoints.begin_delete(docker_endpoint.name, progress=None).result()
    assert engine.list_containers({ENDPOINT_LABEL: docker_endpoint.name,
                                   STATE_LABEL: str(docker_endpoint.state_dir)}) == []
    with pytest.raises(LocalEndpointNotFoundError):
        docker_client.online_endpoints.get(docker_endpoint.name)
    with pytest.raises(httpx.TransportError):
        http.get(docker_endpoint.scoring_uri.removesuffix("/score") + "/")


def test_docker_endpoint_fails_saying_how_to_start_docker_when_the_engine_is_down(
    docker_client: MLClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(TargetError) as failure:
        docker_client.online_endpoints.begin_create_or_update(
            ManagedOnlineEndpoint(name="no-engine", compute="docker"), progress=None).result()
    assert "Docker is not running" in failure.value.message
    assert "start" in (failure.value.hint or "")
    with pytest.raises(LocalEndpointNotFoundError):
        docker_client.online_endpoints.get("no-engine")
