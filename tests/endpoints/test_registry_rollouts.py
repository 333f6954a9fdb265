"""Rollouts on a local endpoint with a client scoring throughout: a deployment that
follows its model's alias is rolled out again, by the watcher its endpoint supervises,
when the alias moves (and back when the new version cannot start); a progressive rollout
of a broken deployment rolls itself back; bad settings are refused before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlkube.entities.deployment_settings import OnlineRequestSettings
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import ManagedOnlineDeployment, load_online_deployment
from mlkube.entities.online_endpoint import ManagedOnlineEndpoint
from mlkube.entities.rollout import ProgressiveRollout
from mlkube.errors import RolloutRolledBackError, ValidationError
from mlkube.operations.client import MLClient
from mlkube.targets.local.processes import read_status
from mlkube.targets.local.state import REGISTRY_WATCHER_PROGRAM
from tests.endpoints.conftest import no_code_deployment
from tests.endpoints.releases import register_releases
from tests.endpoints.scoring import ClientLoop, wait_for
from tests.endpoints.test_cli import mlkube

FOLLOW_ENDPOINT = "follow-e2e"
CANARY_ENDPOINT = "canary-e2e"
MODEL = "iris-release"


def _following(endpoint: str) -> ManagedOnlineDeployment:
    return ManagedOnlineDeployment(
        name="main", endpoint_name=endpoint, model=f"azureml:{MODEL}@champion",
        follow_model_label=True,
        request_settings=OnlineRequestSettings(max_concurrent_requests_per_instance=4))


def test_moving_the_alias_rolls_the_new_version_out_with_no_failed_request(
    ml_client: MLClient, iris_lgbm_model_root: Path, constant_iris_model_root: Path,
    unloadable_iris_model_root: Path, endpoint_workspace: Path,
) -> None:
    registry, (first, second, broken) = register_releases(
        ml_client, MODEL,
        [iris_lgbm_model_root, constant_iris_model_root, unloadable_iris_model_root])
    endpoints, deployments = ml_client.online_endpoints, ml_client.online_deployments
    endpoint = endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name=FOLLOW_ENDPOINT)).result()
    state_dir = endpoint_workspace / "endpoints" / FOLLOW_ENDPOINT
    loop = None
    try:
        deployments.begin_create_or_update(_following(FOLLOW_ENDPOINT)).result()
        endpoint.traffic = {"main": 100}
        endpoints.begin_create_or_update(endpoint).result()
        assert deployments.get("main", FOLLOW_ENDPOINT).served_model == f"{MODEL}:{first}"
        # Nobody started a watcher: the endpoint's supervisor runs one.
        wait_for(lambda: REGISTRY_WATCHER_PROGRAM in read_status(state_dir), timeout=10,
                 what="the supervised registry watcher")
        loop = ClientLoop(endpoint.scoring_uri or "",
                          endpoints.get_keys(FOLLOW_ENDPOINT).primary_key).start()
        wait_for(lambda: len(loop.bodies) >= 20, timeout=30, what="version 1 to answer")
        assert "[7]" not in loop.bodies

        registry.set_registered_model_alias(MODEL, "champion", second)
        wait_for(lambda: bool(loop.bodies) and loop.bodies[-1] == "[7]", timeout=120,
                 what="the new version to answer")
        shown = deployments.get("main", FOLLOW_ENDPOINT)
        assert shown.served_model == f"{MODEL}:{second}"
        assert shown.model == f"azureml:{MODEL}@champion"  # still follows the alias
        assert shown.label_rollout is not None and shown.label_rollout.outcome == "rolled_out"
        shown_by_cli = json.loads(mlkube("online-deployment", "show", "-n", "main", "-e",
                                         FOLLOW_ENDPOINT, "-o", "json",
                                         workspace=endpoint_workspace).stdout)
        assert shown_by_cli["served_model"] == f"{MODEL}:{second}"

        # A version that never becomes ready: the one serving keeps serving, and show
        # says which version failed and why.
        registry.set_registered_model_alias(MODEL, "champion", broken)

        def recorded_failure() -> bool:
            rollout = deployments.get("main", FOLLOW_ENDPOINT).label_rollout
            return rollout is not None and rollout.outcome == "failed"

        wait_for(recorded_failure, timeout=180, what="the failed version to be recorded")
        wait_for(lambda: deployments.get("main", FOLLOW_ENDPOINT).provisioning_state
                 == "Succeeded", timeout=120, what="the rollback to settle")
        shown = deployments.get("main", FOLLOW_ENDPOINT)
        assert shown.served_model == f"{MODEL}:{second}"
        assert shown.label_rollout is not None
        assert shown.label_rollout.model == f"{MODEL}:{broken}"
        assert "weights file of this release is corrupt" in (shown.label_rollout.reason or "")
        answered = len(loop.bodies)
        wait_for(lambda: len(loop.bodies) >= answered + 20, timeout=30,
                 what="answers after the failed version")
        loop.stop()
        assert loop.failures == [], loop.failures[:5]
        assert set(loop.bodies[answered:]) == {"[7]"}

        # Pinned to the version serving, no deployment follows a label: the watcher stops.
        deployments.begin_create_or_update(shown.model_copy(update={
            "follow_model_label": False, "model": f"azureml:{MODEL}:{second}"})).result()
        wait_for(lambda: REGISTRY_WATCHER_PROGRAM not in read_status(state_dir), timeout=20,
                 what="the watcher to stop")
    finally:
        if loop is not None:
            loop.stop()
        endpoints.begin_delete(FOLLOW_ENDPOINT).result()


def test_a_progressive_rollout_of_a_broken_deployment_rolls_back_on_its_own(
    ml_client: MLClient, iris_lgbm_model_root: Path, raising_iris_model_root: Path,
    constant_iris_model_root: Path, endpoint_workspace: Path,
) -> None:
    endpoints, deployments = ml_client.online_endpoints, ml_client.online_deployments
    endpoint = endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name=CANARY_ENDPOINT)).result()
    loop = None
    try:
        deployments.begin_create_or_update(
            no_code_deployment("blue", CANARY_ENDPOINT, iris_lgbm_model_root)).result()
        endpoint.traffic = {"blue": 100}
        endpoints.begin_create_or_update(endpoint).result()
        loop = ClientLoop(endpoint.scoring_uri or "",
                          endpoints.get_keys(CANARY_ENDPOINT).primary_key).start()
        wait_for(lambda: len(loop.bodies) >= 20, timeout=30, what="blue to answer")

        rollout = ProgressiveRollout(traffic_steps=[10, 50, 100], step_pause_s=1.5,
                                     max_error_rate=0.05, scrape_interval_s=0.25)
        with pytest.raises(RolloutRolledBackError) as failure:
            deployments.begin_create_or_update(
                no_code_deployment("green", CANARY_ENDPOINT, raising_iris_model_root),
                rollout=rollout).result()
        message = str(failure.value)
        assert "step 1 of 3 (10 % of the traffic)" in message
        assert "above max_error_rate 0.05" in message
        assert "traffic is back to blue=100%" in message
        assert endpoints.get(CANARY_ENDPOINT).traffic == {"blue": 100, "green": 0}
        rolled_back = len(loop.deployments)
        wait_for(lambda: len(loop.deployments) >= rolled_back + 20, timeout=30,
                 what="answers after the rollback")
        assert set(loop.deployments[rolled_back:]) == {"blue"}
        # Only green's share failed, and only while it had one.
        assert loop.failures and all(f.startswith("500") for f in loop.failures)
        assert set(loop.deployments) == {"blue"}

        # A sound release goes all the way, from the CLI, and fails no request.
        failed_before = len(loop.failures)
        (endpoint_workspace / "green.yml").write_text(
            f"name: green\nendpoint_name: {CANARY_ENDPOINT}\n"
            f"model:\n  path: {constant_iris_model_root / 'model'}\n")
        mlkube("online-deployment", "update", "-f", str(endpoint_workspace / "green.yml"),
               "--traffic-steps", "50,100", "--step-pause", "1s", "--max-error-rate", "0",
               "--max-p99-ms", "2000", workspace=endpoint_workspace)
        assert endpoints.get(CANARY_ENDPOINT).traffic == {"blue": 0, "green": 100}
        shifted = len(loop.deployments)
        wait_for(lambda: len(loop.deployments) >= shifted + 20, timeout=30,
                 what="answers after the rollout")
        loop.stop()
        assert set(loop.deployments[shifted:]) == {"green"}
        assert loop.failures[failed_before:] == []
    finally:
        if loop is not None:
            loop.stop()
        endpoints.begin_delete(CANARY_ENDPOINT).result()


def test_following_a_pinned_version_and_stray_rollout_flags_are_refused(
    ml_client: MLClient, iris_lgbm_model_root: Path, endpoint_workspace: Path,
) -> None:
    deployments = ml_client.online_deployments
    for model in ("azureml:iris-release:1", "models:/iris-release/1",
                  Model(path=str(iris_lgbm_model_root / "model"))):
        pinned = ManagedOnlineDeployment(name="pinned", endpoint_name="nowhere",
                                         model=model, follow_model_label=True)
        with pytest.raises(ValidationError) as failure:
            deployments.begin_create_or_update(pinned)
        assert "follow_model_label" in failure.value.message
        assert "iris@champion" in (failure.value.hint or "")
    with pytest.raises(ValidationError, match="takes a ProgressiveRollout"):
        deployments.begin_create_or_update(
            ManagedOnlineDeployment(name="x", endpoint_name="nowhere",
                                    model="azureml:iris-release@champion"),
            rollout={"traffic_steps": [10, 100]})  # type: ignore[arg-type]
    stray = mlkube("online-deployment", "update", "-n", "x", "-e", "nowhere",
                   "--max-error-rate", "0.5", workspace=endpoint_workspace, check=False)
    assert stray.returncode == 1
    assert "--max-error-rate only apply to a progressive rollout" in stray.stderr
    assert "Traceback" not in stray.stderr
    out_of_range = mlkube("online-deployment", "update", "-n", "x", "-e", "nowhere",
                          "--traffic-steps", "10,50", workspace=endpoint_workspace,
                          check=False)
    assert out_of_range.returncode == 1 and "must end at 100" in out_of_range.stderr


def test_follow_model_label_loads_from_yaml_beside_azure_fields(tmp_path: Path) -> None:
    spec = tmp_path / "champion.yml"
    spec.write_text("$schema: https://azuremlschemas.azureedge.net/latest/"
                    "managedOnlineDeployment.schema.json\nname: main\nendpoint_name: iris\n"
                    "model: azureml:iris@champion\nfollow_model_label: true\n"
                    "instance_type: Standard_DS3_v2\ninstance_count: 1\n")
    deployment = load_online_deployment(spec)
    assert deployment.follow_model_label is True
    assert load_online_deployment(spec, overrides=["follow_model_label=false"]
                                  ).follow_model_label is False
