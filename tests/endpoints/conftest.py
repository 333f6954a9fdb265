"""Fixtures for end-to-end tests of local endpoints: one workspace and one running
endpoint per session, shared by the tests that only read or route.

Every deployment here uses the iris LightGBM model's own environment, so the virtualenv
is built once per session (a few seconds with uv's cache) and every instance reuses it.
Whatever a test leaves running is stopped at the end of the session.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mlkube.entities.code_configuration import CodeConfiguration
from mlkube.entities.deployment_settings import OnlineRequestSettings
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import ManagedOnlineDeployment
from mlkube.entities.online_endpoint import ManagedOnlineEndpoint
from mlkube.operations.client import MLClient
from tests.models import SEED_SCORE_PY
from tests.processes import stop_leftover_endpoints

ENDPOINT = "iris-e2e"


@dataclass(frozen=True)
class RunningEndpoint:
    name: str
    scoring_uri: str
    primary_key: str
    state_dir: Path


@pytest.fixture(scope="session")
def endpoint_workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("endpoints-workspace")
    yield folder
    # Last resort: nothing a failed test left behind keeps running.
    stop_leftover_endpoints(folder)


@pytest.fixture(scope="session")
def ml_client(endpoint_workspace: Path) -> MLClient:
    """The client of the session's workspace."""
    return MLClient(workspace=endpoint_workspace)


@pytest.fixture(scope="session")
def seed_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A code folder with the seed's score.py, unchanged."""
    folder = tmp_path_factory.mktemp("seed-code")
    shutil.copy(SEED_SCORE_PY, folder / "score.py")
    return folder


def no_code_deployment(name: str, endpoint: str, model_root: Path, **fields: object
                       ) -> ManagedOnlineDeployment:
    return ManagedOnlineDeployment(
        name=name, endpoint_name=endpoint, model=Model(path=str(model_root / "model")),
        request_settings=OnlineRequestSettings(max_concurrent_requests_per_instance=4),
        **fields)


def seed_script_deployment(name: str, endpoint: str, model_root: Path, code: Path,
                           **fields: object) -> ManagedOnlineDeployment:
    return ManagedOnlineDeployment(
        name=name, endpoint_name=endpoint, model=Model(path=str(model_root / "model")),
        code_configuration=CodeConfiguration(code=str(code), scoring_script="score.py"),
        request_settings=OnlineRequestSettings(max_concurrent_requests_per_instance=4),
        **fields)


@pytest.fixture(scope="session")
def iris_endpoint(ml_client: MLClient, iris_lgbm_model_root: Path, seed_code: Path,
                  endpoint_workspace: Path) -> Iterator[RunningEndpoint]:
    """Endpoint ``iris-e2e``: ``blue`` (the LightGBM model with no code, 2 instances) and
    ``seed`` (the seed's score.py on the same model, registered in the workspace and
    deployed as ``iris-lgbm@latest`` on a ``Standard_DS3_v2``), all traffic to blue."""
    endpoints, deployments = ml_client.online_endpoints, ml_client.online_deployments
    registered = ml_client.models.create_or_update(Model(
        name="iris-lgbm", path=str(iris_lgbm_model_root / "model"), type="mlflow_model"))
    assert registered.version == "1"
    # Sized as the seed's main.py sizes it (nothing is enforced locally; show says so).
    seed = seed_script_deployment("seed", ENDPOINT, iris_lgbm_model_root, seed_code,
                                  instance_type="Standard_DS3_v2")
    seed.model = "azureml:iris-lgbm@latest"
    endpoint = endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=ENDPOINT)).result()
    try:
        # Both start at once: the pollers run side by side.
        pollers = [
            deployments.begin_create_or_update(
                no_code_deployment("blue", ENDPOINT, iris_lgbm_model_root, instance_count=2)),
            deployments.begin_create_or_update(seed),
        ]
        for poller in pollers:
            assert poller.result().provisioning_state == "Succeeded"
        endpoint.traffic = {"blue": 100}
        endpoints.begin_create_or_update(endpoint).result()
        keys = endpoints.get_keys(ENDPOINT)
        yield RunningEndpoint(ENDPOINT, endpoint.scoring_uri or "", keys.primary_key,
                              endpoint_workspace / "endpoints" / ENDPOINT)
    finally:
        endpoints.begin_delete(ENDPOINT).result()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


@pytest.fixture(scope="session")
def expected_prediction(iris_lgbm_model_root: Path) -> list[list[float]]:
    """What the LightGBM model predicts in-process for the seed's request."""
    import mlflow.lightgbm
    import numpy as np

    booster = mlflow.lightgbm.load_model(str(iris_lgbm_model_root / "model"))
    return booster.predict(np.array([[1.0, 2.0, 3.0, 4.0]])).tolist()
