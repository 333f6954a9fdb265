"""Rollouts on a docker endpoint, with a client scoring throughout: moving the alias of a
following deployment rolls the new version's container out with no failed request, and a
progressive rollout of a deployment whose predict raises rolls itself back."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlkube.entities.online_deployment import ManagedOnlineDeployment
from mlkube.entities.online_endpoint import ManagedOnlineEndpoint
from mlkube.entities.rollout import ProgressiveRollout
from mlkube.errors import RolloutRolledBackError
from mlkube.operations.client import MLClient
from tests.endpoints.conftest import no_code_deployment
from tests.endpoints.releases import register_releases
from tests.endpoints.scoring import ClientLoop, wait_for

# Three images built (two model versions, the canary), each on a cached environment.
pytestmark = pytest.mark.timeout(900)

ENDPOINT = "rollout-docker"
MODEL = "iris-docker-release"


def test_alias_moves_roll_out_and_a_broken_canary_rolls_back_on_docker(
    docker_client: MLClient, iris_lgbm_model_root: Path, constant_iris_model_root: Path,
    raising_iris_model_root: Path,
) -> None:
    registry, versions = register_releases(
        docker_client, MODEL, [iris_lgbm_model_root, constant_iris_model_root])
    endpoints, deployments = docker_client.online_endpoints, docker_client.online_deployments
    endpoint = endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name=ENDPOINT, compute="docker"), progress=None).result()
    loop = None
    try:
        deployments.begin_create_or_update(ManagedOnlineDeployment(
            name="main", endpoint_name=ENDPOINT, model=f"azureml:{MODEL}@champion",
            follow_model_label=True), progress=None).result()
        endpoint.traffic = {"main": 100}
        endpoints.begin_create_or_update(endpoint, progress=None).result()
        loop = ClientLoop(endpoint.scoring_uri or "",
                          endpoints.get_keys(ENDPOINT).primary_key).start()
        wait_for(lambda: len(loop.bodies) >= 20, timeout=60, what="version 1 to answer")

        registry.set_registered_model_alias(MODEL, "champion", versions[1])
        wait_for(lambda: bool(loop.bodies) and loop.bodies[-1] == "[7]", timeout=300,
                 what="the new version's container to answer")
        assert deployments.get("main", ENDPOINT).served_model == f"{MODEL}:{versions[1]}"
        assert loop.failures == [], loop.failures[:5]

        with pytest.raises(RolloutRolledBackError) as failure:
            deployments.begin_create_or_update(
                no_code_deployment("canary", ENDPOINT, raising_iris_model_root),
                progress=None, rollout=ProgressiveRollout(
                    traffic_steps=[20, 100], step_pause_s=2, max_error_rate=0.05,
                    scrape_interval_s=0.25)).result()
        assert "step 1 of 2" in str(failure.value)
        assert "above max_error_rate 0.05" in str(failure.value)
        assert endpoints.get(ENDPOINT).traffic == {"main": 100, "canary": 0}
        rolled_back = len(loop.bodies)
        wait_for(lambda: len(loop.bodies) >= rolled_back + 20, timeout=60,
                 what="answers after the rollback")
        loop.stop()
        assert set(loop.bodies[rolled_back:]) == {"[7]"}
    finally:
        if loop is not None:
            loop.stop()
        endpoints.begin_delete(ENDPOINT, progress=None).result()
