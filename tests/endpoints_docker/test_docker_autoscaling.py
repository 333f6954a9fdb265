"""Elastic endpoints on ``compute: docker``: the same autoscaler as ``compute: local``
adds and drains containers with the load, then stops the last one when idle, and the
next request is held while a container starts. One deployment walks the whole way, so
its image is built once."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from mlkube.entities.deployment_settings import TargetUtilizationScaleSettings
from mlkube.entities.online_endpoint import ManagedOnlineEndpoint
from mlkube.operations.client import MLClient
from mlkube.targets.docker.containers import STATE_LABEL
from mlkube.targets.docker.engine import DockerEngine
from tests.endpoints.elastic import instances, route, slow_code_folder, slow_deployment
from tests.endpoints.scoring import ClientLoop, score, wait_for

pytestmark = pytest.mark.timeout(900)

ENDPOINT = "elastic-docker"


def test_containers_follow_the_load_down_to_zero_and_a_request_wakes_one(
    docker_client: MLClient, docker_workspace: Path, engine: DockerEngine,
    iris_lgbm_model_root: Path, tmp_path: Path, http: httpx.Client,
) -> None:
    endpoints = docker_client.online_endpoints
    endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=ENDPOINT, compute="docker"),
                                     progress=None).result()
    state_dir = docker_workspace / "endpoints" / ENDPOINT
    try:
        scale = TargetUtilizationScaleSettings(
            min_instances=0, max_instances=2, target_utilization_percentage=70,
            polling_interval=1, scale_up_delay_s=1, scale_down_delay_s=1,
            scale_to_zero_after_s=3)
        docker_client.online_deployments.begin_create_or_update(slow_deployment(
            "elastic", ENDPOINT, iris_lgbm_model_root, slow_code_folder(tmp_path / "code"),
            scale=scale, timeout_ms=120_000), progress=None).result()
        uri, key = route(docker_client, ENDPOINT, {"elastic": 100})

        def containers() -> int:
            return len(engine.list_containers({STATE_LABEL: str(state_dir)}))

        loops = [ClientLoop(uri, key).start() for _ in range(2)]
        try:
            wait_for(lambda: instances(docker_client, ENDPOINT, "elastic") == (2, 2),
                     timeout=90, what="a second container serving")
            assert containers() == 2
        finally:
            for loop in loops:
                loop.stop()
        for loop in loops:
            assert loop.failures == [], loop.failures[:3]
        # Drained to one, then to none: every container removed.
        wait_for(lambda: instances(docker_client, ENDPOINT, "elastic") == (0, 0),
                 timeout=1 + 3 + 10, what="the deployment scaled to zero")
        wait_for(lambda: containers() == 0, timeout=30, what="the containers removed")

        sent = time.monotonic()
        answer = score(http, uri, key)
        assert answer.status_code == 200, answer.text
        assert time.monotonic() - sent > 0.3
        assert instances(docker_client, ENDPOINT, "elastic") == (1, 1)
    finally:
        endpoints.begin_delete(ENDPOINT, progress=None).result()
