"""Elastic local endpoints: load adds instances, a pause drains them without a failed
request, an idle deployment scales to zero and its next request is held and answered.

Each test has its own endpoint (the autoscaler acts on whole endpoints) and short delays,
so it runs in seconds. The model answers after a fixed 0.2 s, so that the load the
clients make is one the gateway can count.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlkube.entities.deployment_settings import (
    TargetUtilizationScaleSettings,
)
from mlkube.entities.online_endpoint import ManagedOnlineEndpoint
from mlkube.operations.client import MLClient
from tests.endpoints.elastic import instances, route, slow_code_folder, slow_deployment
from tests.endpoints.scoring import ClientLoop, score, wait_for

# Instances start in seconds on a quiet machine, in tens of seconds on a loaded one.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def slow_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return slow_code_folder(tmp_path_factory.mktemp("slow-code"))


@pytest.fixture
def elastic_endpoint(ml_client: MLClient, request: pytest.FixtureRequest,
                     endpoint_workspace: Path) -> Iterator[str]:
    name = f"elastic-{request.node.name[5:15].replace('_', '-')}".rstrip("-")
    ml_client.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=name)).result()
    try:
        yield name
    finally:
        logs = endpoint_workspace / "endpoints" / name / "logs"
        for log in (logs / "autoscaler.log", logs / "gateway.log"):  # shown on failure
            print(f"--- {log.name}\n{log.read_text() if log.is_file() else 'none'}")
        ml_client.online_endpoints.begin_delete(name).result()


def test_load_adds_instances_within_the_delay_and_a_pause_drains_them_without_failures(
    ml_client: MLClient, elastic_endpoint: str, iris_lgbm_model_root: Path, slow_code: Path,
) -> None:
    scale = TargetUtilizationScaleSettings(
        min_instances=1, max_instances=3, target_utilization_percentage=70,
        polling_interval=1, scale_up_delay_s=1, scale_down_delay_s=2)
    ml_client.online_deployments.begin_create_or_update(slow_deployment(
        "blue", elastic_endpoint, iris_lgbm_model_root, slow_code, scale=scale)).result()
    uri, key = route(ml_client, elastic_endpoint, {"blue": 100})
    assert instances(ml_client, elastic_endpoint, "blue") == (1, 1)

    loops = [ClientLoop(uri, key).start() for _ in range(3)]  # 3 in flight, 1 per instance
    started = time.monotonic()
    try:
        # Decided within delay + two polling intervals; the instances then start.
        wait_for(lambda: instances(ml_client, elastic_endpoint, "blue")[1] == 3,
                 timeout=1 + 2 * 1 + 1.5, what="the autoscaler to want 3 instances")
        decided = time.monotonic() - started
        wait_for(lambda: instances(ml_client, elastic_endpoint, "blue") == (3, 3),
                 timeout=60, what="3 instances serving")
        served = len(sum((loop.deployments for loop in loops), []))
        wait_for(lambda: len(sum((loop.deployments for loop in loops), [])) > served + 20,
                 timeout=10, what="requests served by 3 instances")
    finally:
        for loop in loops:
            loop.stop()
    assert decided >= 1.0  # not before the scale-up delay
    # The pause: drained back to min_instances after the scale-down delay.
    stopped = time.monotonic()
    wait_for(lambda: instances(ml_client, elastic_endpoint, "blue") == (1, 1),
             timeout=2 + 2 * 1 + 5, what="the deployment drained to 1 instance")
    assert time.monotonic() - stopped >= 1.5
    for loop in loops:
        assert loop.failures == [], loop.failures[:3]
        assert set(loop.statuses) == {200}


def test_an_idle_deployment_scales_to_zero_and_its_next_request_is_held_and_answered(
    ml_client: MLClient, elastic_endpoint: str, iris_lgbm_model_root: Path, slow_code: Path,
    http: httpx.Client,
) -> None:
    zero = TargetUtilizationScaleSettings(min_instances=0, max_instances=2,
                                          scale_to_zero_after_s=2, scale_down_delay_s=1)
    deployments = ml_client.online_deployments
    pollers = [
        deployments.begin_create_or_update(slow_deployment(
            "sleepy", elastic_endpoint, iris_lgbm_model_root, slow_code, scale=zero)),
        # The same, with a request timeout shorter than an instance takes to start.
        deployments.begin_create_or_update(slow_deployment(
            "hasty", elastic_endpoint, iris_lgbm_model_root, slow_code, scale=zero,
            timeout_ms=300)),
    ]
    for poller in pollers:
        assert poller.result().provisioning_state == "Succeeded"
    uri, key = route(ml_client, elastic_endpoint, {"sleepy": 100, "hasty": 0})
    assert score(http, uri, key).status_code == 200
    # No request for 2 s: both stop; show says 0 serving, 0 wanted.
    for name in ("sleepy", "hasty"):
        wait_for(lambda name=name: instances(ml_client, elastic_endpoint, name) == (0, 0),
                 timeout=2 + 3 + 5, what=f"{name} scaled to zero")
    assert deployments.get("sleepy", elastic_endpoint).provisioning_state == "Succeeded"

    sent = time.monotonic()
    answer = score(http, uri, key)
    first_request_s = time.monotonic() - sent
    assert answer.status_code == 200, answer.text
    assert answer.headers["azureml-model-deployment"] == "sleepy"
    assert first_request_s > 0.3  # it waited for an instance to start
    assert instances(ml_client, elastic_endpoint, "sleepy") == (1, 1)

    hasty = score(http, uri, key, deployment="hasty")
    assert hasty.status_code == 503
    body = hasty.json()
    assert body["error_code"] == "DEPLOYMENT_STARTING"
    assert "request_timeout_ms=300" in body["message"] and body["hint"]
    # The request that timed out still woke it: the next one is served.
    wait_for(lambda: instances(ml_client, elastic_endpoint, "hasty")[0] == 1, timeout=60,
             what="hasty woken by the timed-out request")
    assert score(http, uri, key, deployment="hasty").status_code == 200


def test_a_request_that_comes_as_the_last_instance_stops_is_held_and_answered(
    ml_client: MLClient, elastic_endpoint: str, iris_lgbm_model_root: Path, slow_code: Path,
    http: httpx.Client, endpoint_workspace: Path,
) -> None:
    """The window a user meets by chance: the last instance has drained and its process is
    being stopped when a request comes. The request must wait for an instance that will
    live (a fresh one), not reach the one that is going away, so it and the requests
    right after it are all answered."""
    zero = TargetUtilizationScaleSettings(min_instances=0, max_instances=1,
                                          scale_to_zero_after_s=1, scale_down_delay_s=1)
    ml_client.online_deployments.begin_create_or_update(slow_deployment(
        "sleepy", elastic_endpoint, iris_lgbm_model_root, slow_code, scale=zero)).result()
    uri, key = route(ml_client, elastic_endpoint, {"sleepy": 100})
    log = endpoint_workspace / "endpoints" / elastic_endpoint / "logs" / "autoscaler.log"
    for attempt in range(3):
        assert score(http, uri, key).status_code == 200
        stops = log.read_text().count("drained instance")
        # Send the next request the moment the autoscaler lets the drained instance go.
        wait_for(lambda stops=stops: log.read_text().count("drained instance") > stops,
                 timeout=1 + 2 + 10, what="the last instance to be let go", every=0.005)
        answers = [score(http, uri, key) for _ in range(5)]
        # Answered, and by an instance that stays: not by the process on its way out.
        assert [a.status_code for a in answers] == [200] * 5, (attempt, answers[-1].text)
