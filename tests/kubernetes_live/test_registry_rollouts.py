"""Rollouts on the real cluster, with a client scoring throughout: `mlkube watch-registry`
rolls a following deployment out when its alias moves (new pods beside the old, no
failed request, the version kept in the cluster for `show`), and a progressive rollout
of a deployment whose predict raises rolls itself back, judged from the gateway's
metrics across its replicas."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from mlkube.entities.model import Model
from mlkube.entities.online_deployment import KubernetesOnlineDeployment
from mlkube.entities.online_endpoint import KubernetesOnlineEndpoint
from mlkube.entities.rollout import ProgressiveRollout
from mlkube.errors import RolloutRolledBackError
from mlkube.operations.client import MLClient
from tests.endpoints.releases import register_releases
from tests.endpoints.scoring import ClientLoop, wait_for
from tests.kubernetes_live.conftest import COMPUTE, LiveWorkspace

pytestmark = pytest.mark.timeout(900)

ENDPOINT = "rollout-live"
MODEL = "iris-live-release"


def test_watch_registry_rolls_out_an_alias_move_and_a_broken_canary_rolls_back(
    live_workspace: LiveWorkspace, iris_lgbm_model_root: Path, constant_iris_model_root: Path,
    raising_iris_model_root: Path,
) -> None:
    client: MLClient = live_workspace.client()
    registry, versions = register_releases(
        client, MODEL, [iris_lgbm_model_root, constant_iris_model_root])
    endpoints, deployments = client.online_endpoints, client.online_deployments
    endpoint = endpoints.begin_create_or_update(KubernetesOnlineEndpoint(
        name=ENDPOINT, compute=COMPUTE, auth_mode="key"), progress=None).result()
    loop = None
    try:
        deployments.begin_create_or_update(KubernetesOnlineDeployment(
            name="main", endpoint_name=ENDPOINT, model=f"azureml:{MODEL}@champion",
            follow_model_label=True), progress=None).result()
        endpoint.traffic = {"main": 100}
        endpoint = endpoints.begin_create_or_update(endpoint, progress=None).result()
        loop = ClientLoop(endpoint.scoring_uri or "",
                          endpoints.get_keys(ENDPOINT).primary_key).start()
        wait_for(lambda: len(loop.bodies) >= 20, timeout=60, what="version 1 to answer")

        registry.set_registered_model_alias(MODEL, "champion", versions[1])
        watched = live_workspace.mlkube("watch-registry", "--once", "--endpoint", ENDPOINT)
        assert f"{ENDPOINT}/main: rolled out {MODEL}:{versions[1]}" in watched.stderr
        wait_for(lambda: bool(loop.bodies) and loop.bodies[-1] == "[7]", timeout=60,
                 what="the new version to answer")
        shown = json.loads(live_workspace.mlkube(
            "online-deployment", "show", "-n", "main", "-e", ENDPOINT, "-o", "json").stdout)
        assert shown["served_model"] == f"{MODEL}:{versions[1]}"
        assert shown["label_rollout"]["outcome"] == "rolled_out"
        assert loop.failures == [], loop.failures[:5]
        # Nothing moved since: a second poll rolls nothing out.
        again = live_workspace.mlkube("watch-registry", "--once", "--endpoint", ENDPOINT)
        assert "rolled out" not in again.stderr

        # The gateway's metrics, which the progressive rollout reads, are beside the URI.
        # Each gateway replica counts what it served, and the client loop's connection
        # stays on one of them: a fresh connection per read reaches either.
        metrics_url = (endpoint.scoring_uri or "").removesuffix("/score") + "/metrics"

        def a_replica_counted_main() -> bool:
            text = httpx.get(metrics_url, timeout=10, trust_env=False).text
            return 'mlkube_gateway_requests_total{deployment="main",code="200"}' in text

        wait_for(a_replica_counted_main, timeout=30,
                 what="a gateway replica's metrics to count main's answers")
        with pytest.raises(RolloutRolledBackError) as failure:
            deployments.begin_create_or_update(
                KubernetesOnlineDeployment(name="canary", endpoint_name=ENDPOINT,
                                           model=Model(path=str(raising_iris_model_root
                                                                / "model"))),
                rollout=ProgressiveRollout(
                    traffic_steps=[20, 100], step_pause_s=3, max_error_rate=0.05,
                    scrape_interval_s=0.25)).result()
        assert "step 1 of 2" in str(failure.value)
        assert "above max_error_rate 0.05" in str(failure.value)
        assert endpoints.get(ENDPOINT).traffic == {"main": 100, "canary": 0}
        rolled_back = len(loop.bodies)
        wait_for(lambda: len(loop.bodies) >= rolled_back + 40, timeout=60,
                 what="answers after the rollback")
        loop.stop()
        assert set(loop.bodies[rolled_back + 20:]) == {"[7]"}
    finally:
        if loop is not None:
            loop.stop()
        if any(e.name == ENDPOINT for e in endpoints.list()):
            endpoints.begin_delete(ENDPOINT, progress=None).result()
