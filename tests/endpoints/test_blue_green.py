"""Blue/green on a local endpoint with a client scoring throughout: adding green, shifting
traffic 10 % then 100 %, replacing green and deleting blue fail no request."""

from __future__ import annotations

from pathlib import Path

from mlkube.entities.online_endpoint import ManagedOnlineEndpoint
from mlkube.operations.client import MLClient
from tests.endpoints.conftest import no_code_deployment, seed_script_deployment
from tests.endpoints.scoring import ClientLoop, wait_for

ENDPOINT = "bluegreen-e2e"


def test_blue_green_shift_and_delete_fail_no_request(
    ml_client: MLClient, iris_lgbm_model_root: Path, seed_code: Path,
) -> None:
    endpoints, deployments = ml_client.online_endpoints, ml_client.online_deployments
    endpoint = endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=ENDPOINT)).result()
    loop = None
    try:
        blue = deployments.begin_create_or_update(
            no_code_deployment("blue", ENDPOINT, iris_lgbm_model_root))
        # Green is added while blue starts and then serves: adding a deployment must not
        # disturb the one in service (and both starting at once keeps the test short).
        green = deployments.begin_create_or_update(
            seed_script_deployment("green", ENDPOINT, iris_lgbm_model_root, seed_code))
        blue.result()
        endpoint.traffic = {"blue": 100}
        endpoints.begin_create_or_update(endpoint).result()
        key = endpoints.get_keys(ENDPOINT).primary_key
        loop = ClientLoop(endpoint.scoring_uri or "", key).start()
        wait_for(lambda: len(loop.deployments) >= 20, timeout=30, what="blue to answer")
        green.result()
        endpoint.traffic = {"blue": 90, "green": 10}
        endpoints.begin_create_or_update(endpoint).result()
        wait_for(lambda: "green" in loop.deployments, timeout=30, what="green's 10 %")

        endpoint.traffic = {"blue": 0, "green": 100}
        endpoints.begin_create_or_update(endpoint).result()
        shifted = len(loop.deployments)
        wait_for(lambda: len(loop.deployments) >= shifted + 20, timeout=30,
                 what="answers after the shift")
        assert set(loop.deployments[shifted:]) == {"green"}

        # Replacing green (new instances beside the old, then a switch) fails nothing either.
        replaced = len(loop.deployments)
        updated = deployments.begin_create_or_update(
            seed_script_deployment("green", ENDPOINT, iris_lgbm_model_root, seed_code,
                                   environment_variables={"GENERATION": "2"})).result()
        assert updated.environment_variables == {"GENERATION": "2"}
        wait_for(lambda: len(loop.deployments) >= replaced + 20, timeout=30,
                 what="answers after replacing green")

        deployments.begin_delete("blue", ENDPOINT).result()
        deleted = len(loop.deployments)
        wait_for(lambda: len(loop.deployments) >= deleted + 20, timeout=30,
                 what="answers after deleting blue")
        loop.stop()

        assert loop.failures == [], loop.failures[:5]
        assert {"blue", "green"} <= set(loop.deployments)
        assert [d.name for d in deployments.list(ENDPOINT)] == ["green"]
    finally:
        if loop is not None:
            loop.stop()
        endpoints.begin_delete(ENDPOINT).result()
