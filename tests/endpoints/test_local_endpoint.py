"""End to end on the local target: real models behind a real gateway, scored over HTTP
with the endpoint's key, as `curl -H "Authorization: Bearer <key>" <scoring_uri>` does."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from mlkube.entities.code_configuration import CodeConfiguration
from mlkube.entities.deployment_settings import ProbeSettings
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import ManagedOnlineDeployment
from mlkube.errors import DeploymentFailedError, LocalEndpointNotFoundError
from mlkube.operations.client import MLClient
from mlkube.targets.local.processes import read_status
from mlkube.targets.local.state import EndpointFolder
from tests.endpoints.conftest import RunningEndpoint
from tests.endpoints.scoring import (
    ClientLoop,
    assert_header_picks_the_deployment,
    assert_rejects_missing_and_wrong_keys,
    score,
    wait_for,
)


def test_no_code_and_seed_script_deployments_answer_the_seed_request_with_predictions(
    iris_endpoint: RunningEndpoint, http: httpx.Client, expected_prediction: list[list[float]],
) -> None:
    for deployment in ("blue", "seed"):
        response = score(http, iris_endpoint.scoring_uri, iris_endpoint.primary_key,
                         deployment=deployment)
        assert response.status_code == 200, response.text
        assert response.headers["azureml-model-deployment"] == deployment
        assert response.json()[0] == pytest.approx(expected_prediction[0])


def test_sdk_invoke_reads_the_request_file_and_returns_the_answer(
    iris_endpoint: RunningEndpoint, ml_client: MLClient, expected_prediction: list[list[float]],
    tmp_path: Path,
) -> None:
    request = tmp_path / "sample-request.json"
    request.write_text('{"data": [[1, 2, 3, 4]]}')
    import json

    answer = ml_client.online_endpoints.invoke(iris_endpoint.name, request_file=str(request),
                                               deployment_name="seed")
    assert json.loads(answer)[0] == pytest.approx(expected_prediction[0])


def test_gateway_rejects_missing_and_wrong_keys_with_401(
    iris_endpoint: RunningEndpoint, http: httpx.Client,
) -> None:
    assert_rejects_missing_and_wrong_keys(http, iris_endpoint.scoring_uri)


def test_header_picks_the_deployment_regardless_of_traffic(
    iris_endpoint: RunningEndpoint, http: httpx.Client,
) -> None:
    assert_header_picks_the_deployment(http, iris_endpoint.scoring_uri, iris_endpoint.primary_key,
                                       weighted="blue", pinned="seed")


def test_traffic_split_90_10_holds_within_4_percent_over_1000_requests(
    iris_endpoint: RunningEndpoint, ml_client: MLClient, http: httpx.Client,
) -> None:
    endpoints = ml_client.online_endpoints
    endpoint = endpoints.get(iris_endpoint.name)
    endpoint.traffic = {"blue": 90, "seed": 10}
    endpoints.begin_create_or_update(endpoint).result()
    try:
        counts: Counter[str] = Counter()
        for _ in range(1000):
            response = score(http, iris_endpoint.scoring_uri, iris_endpoint.primary_key)
            assert response.status_code == 200, response.text
            counts[response.headers["azureml-model-deployment"]] += 1
        assert abs(counts["seed"] / 1000 - 0.10) <= 0.04, counts
        assert counts["blue"] + counts["seed"] == 1000
    finally:
        endpoint.traffic = {"blue": 100, "seed": 0}
        endpoints.begin_create_or_update(endpoint).result()


def _mirrored(http: httpx.Client, endpoint: RunningEndpoint) -> dict[str, int]:
    """The gateway's count of mirrored copies, by outcome, from its /metrics."""
    text = http.get(endpoint.scoring_uri.removesuffix("/score") + "/metrics").text
    found = re.findall(r'mlkube_gateway_mirrored_requests_total\{deployment="seed",'
                       r'outcome="([^"]+)"\} (\d+)', text)
    return {outcome: int(count) for outcome, count in found}


def test_mirror_gets_its_share_and_callers_never_see_its_errors(
    iris_endpoint: RunningEndpoint, ml_client: MLClient, http: httpx.Client,
) -> None:
    # The seed's score.py reads body["data"]: this MLflow-style body breaks it (500),
    # while blue's no-code server answers it.
    body = (b'{"input_data": {"columns": ["sepal_length", "sepal_width", "petal_length", '
            b'"petal_width"], "data": [[1, 2, 3, 4]]}}')
    endpoints = ml_client.online_endpoints
    endpoint = endpoints.get(iris_endpoint.name)
    before = sum(_mirrored(http, iris_endpoint).values())
    endpoint.mirror_traffic = {"seed": 20}
    endpoints.begin_create_or_update(endpoint).result()
    try:
        for _ in range(500):
            response = score(http, iris_endpoint.scoring_uri, iris_endpoint.primary_key,
                             body=body)
            assert response.status_code == 200, response.text
            assert response.headers["azureml-model-deployment"] == "blue"
        wait_for(lambda: sum(_mirrored(http, iris_endpoint).values()) - before >= 65,
                 timeout=20, what="mirrored copies to be counted")
        mirrored = _mirrored(http, iris_endpoint)
        copies = sum(mirrored.values()) - before
        assert 65 <= copies <= 135, mirrored  # 20 % of 500, within 4 standard deviations
        assert mirrored.get("500", 0) >= 65, mirrored  # the mirror failed every time
    finally:
        endpoint.mirror_traffic = {"seed": 0}
        endpoints.begin_create_or_update(endpoint).result()


def test_regenerated_key_stops_working_at_once_and_the_new_one_works(
    iris_endpoint: RunningEndpoint, ml_client: MLClient, http: httpx.Client,
) -> None:
    endpoints = ml_client.online_endpoints
    old = endpoints.get_keys(iris_endpoint.name)
    endpoints.begin_regenerate_keys(iris_endpoint.name, key_type="secondary").result()
    new = endpoints.get_keys(iris_endpoint.name)
    assert new.secondary_key != old.secondary_key
    assert new.primary_key == old.primary_key
    assert score(http, iris_endpoint.scoring_uri, old.secondary_key).status_code == 401
    assert score(http, iris_endpoint.scoring_uri, new.secondary_key).status_code == 200
    assert "key" not in repr(new).replace("_key=***", "")  # repr never shows a key
    keys_file = iris_endpoint.state_dir / "keys.json"
    assert keys_file.stat().st_mode & 0o777 == 0o600
    assert new.primary_key not in (iris_endpoint.state_dir / "endpoint.json").read_text()


def test_killed_instance_is_restarted_and_clients_see_no_failure_meanwhile(
    iris_endpoint: RunningEndpoint, http: httpx.Client,
) -> None:
    status = read_status(iris_endpoint.state_dir)
    blue = sorted(name for name in status if name.startswith("blue-"))
    assert len(blue) == 2, status
    victim = status[blue[0]]
    assert victim.pid is not None
    record = EndpointFolder(iris_endpoint.state_dir).read_deployment("blue")
    assert record is not None
    port = next(i.port for i in record.instances if i.program == blue[0])
    retries_before = _retries(http, iris_endpoint)
    loop = ClientLoop(iris_endpoint.scoring_uri, iris_endpoint.primary_key).start()
    try:
        wait_for(lambda: len(loop.deployments) >= 20, timeout=30,
                 what="the client loop to be served")
        os.kill(victim.pid, signal.SIGKILL)
        wait_for(lambda: read_status(iris_endpoint.state_dir)[blue[0]].pid
                 not in (None, victim.pid),
                 timeout=30, what="the supervisor to restart the killed instance")
        wait_for(lambda: _ready(http, port), timeout=120,
                 what="the restarted instance to load its model again")
        served = len(loop.deployments)
        wait_for(lambda: len(loop.deployments) >= served + 40, timeout=30,
                 what="requests after the restart")
    finally:
        loop.stop()
    # The gateway sent the requests the dead or loading instance could not take to the
    # other one: the caller never noticed.
    assert loop.failures == []
    assert set(loop.deployments) == {"blue"}
    assert read_status(iris_endpoint.state_dir)[blue[0]].restarts >= 1
    assert _retries(http, iris_endpoint) > retries_before  # the instance was really missed


def _retries(http: httpx.Client, endpoint: RunningEndpoint) -> int:
    """Requests the gateway sent to another instance of blue, from its /metrics."""
    text = http.get(endpoint.scoring_uri.removesuffix("/score") + "/metrics").text
    found = re.findall(r'mlkube_gateway_retries_total\{deployment="blue",reason="[^"]+"\} (\d+)',
                       text)
    return sum(int(count) for count in found)


def _ready(http: httpx.Client, port: int) -> bool:
    try:
        return http.get(f"http://127.0.0.1:{port}/ready").status_code == 200
    except httpx.TransportError:
        return False


def test_deployment_whose_init_raises_fails_within_the_probe_budget_with_the_cause(
    iris_endpoint: RunningEndpoint, ml_client: MLClient, iris_lgbm_model_root: Path,
    http: httpx.Client, tmp_path: Path,
) -> None:
    code = tmp_path / "broken"
    code.mkdir()
    (code / "score.py").write_text(
        "def init():\n    raise RuntimeError('weights file is corrupt')\n\n"
        "def run(raw_data):\n    return raw_data\n")
    probe = ProbeSettings(initial_delay=2, period=1, failure_threshold=30)  # 32 s budget
    deployment = ManagedOnlineDeployment(
        name="broken", endpoint_name=iris_endpoint.name,
        model=Model(path=str(iris_lgbm_model_root / "model")),
        code_configuration=CodeConfiguration(code=str(code), scoring_script="score.py"),
        readiness_probe=probe)
    deployments = ml_client.online_deployments
    started = time.monotonic()
    with pytest.raises(DeploymentFailedError) as failure:
        deployments.begin_create_or_update(deployment).result()
    assert time.monotonic() - started < 32 + 15  # budget, plus environment check
    message = str(failure.value)
    assert "RuntimeError" in message and "weights file is corrupt" in message
    assert deployments.get("broken", iris_endpoint.name).provisioning_state == "Failed"
    assert "weights file is corrupt" in deployments.get_logs("broken", iris_endpoint.name)
    setup_log = deployments.get_logs("broken", iris_endpoint.name,
                                     container_type="storage-initializer")
    assert f"code: {code}" in setup_log and "environment:" in setup_log
    pinned = score(http, iris_endpoint.scoring_uri, iris_endpoint.primary_key,
                   deployment="broken")
    assert pinned.status_code == 424
    assert "weights file is corrupt" in pinned.json()["message"]
    # The hint's command names the endpoint (it fails without it), and the body shows
    # clients no file path of the server.
    assert (f"mlkube online-deployment get-logs -n broken -e {iris_endpoint.name}"
            in pinned.json()["hint"])
    for server_path in (str(tmp_path), str(iris_endpoint.state_dir), "/root", "/tmp/"):
        assert server_path not in pinned.text, pinned.text
    deployments.begin_delete("broken", iris_endpoint.name).result()
    with pytest.raises(LocalEndpointNotFoundError):
        deployments.get("broken", iris_endpoint.name)


def test_show_says_which_version_a_latest_deployment_serves(
    iris_endpoint: RunningEndpoint, ml_client: MLClient,
) -> None:
    seed = ml_client.online_deployments.get("seed", iris_endpoint.name)
    assert seed.model == "azureml:iris-lgbm@latest"
    assert seed.served_model == "iris-lgbm:1"
    blue = ml_client.online_deployments.get("blue", iris_endpoint.name)
    assert blue.served_model is None  # a local folder: no registered version


def test_show_says_a_local_instance_type_is_not_enforced(
    iris_endpoint: RunningEndpoint, ml_client: MLClient,
) -> None:
    seed = ml_client.online_deployments.get("seed", iris_endpoint.name)
    assert seed.instance_resources is not None
    assert (seed.instance_resources.instance_type, seed.instance_resources.cpu,
            seed.instance_resources.memory) == ("Standard_DS3_v2", "4", "14Gi")
    assert seed.instance_resources.applied.startswith("not enforced")
    blue = ml_client.online_deployments.get("blue", iris_endpoint.name)
    assert blue.instance_resources is None  # no instance type: nothing to say
