"""Fixtures for end-to-end tests of endpoints on ``compute: docker``: one workspace and
one running endpoint for this package, through ``MLClient`` as a user drives it.

Deployments here resolve to the iris model's own environment, the same requirements as
the images of ``tests/docker``, so their image reuses that environment layer; only the
model, code and server-wheel layers are built. Docker must be running (``bash
.ci/start-docker.sh``): without it these tests fail with that instruction, never skip.
Whatever a test leaves running is stopped, and its containers removed, at the end.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mlkube.entities.online_endpoint import ManagedOnlineEndpoint
from mlkube.environments.dockerfile import DEFAULT_BASE_IMAGE
from mlkube.environments.server_package import SERVER_WHEEL_VARIABLE, build_server_wheel
from mlkube.errors import MlkubeError
from mlkube.operations.client import MLClient
from mlkube.targets.docker.containers import STATE_LABEL
from mlkube.targets.docker.engine import DockerEngine
from mlkube.targets.local.processes import stop_supervisor
from tests.endpoints.conftest import no_code_deployment, seed_script_deployment
from tests.models import SEED_SCORE_PY

ENDPOINT = "iris-docker"


@dataclass(frozen=True)
class DockerEndpoint:
    name: str
    scoring_uri: str
    primary_key: str
    state_dir: Path


@pytest.fixture(scope="package")
def engine() -> Iterator[DockerEngine]:
    try:
        connected = DockerEngine.connect()
    except MlkubeError as error:
        pytest.fail(f"{error.message}\n{error.hint}\n(CI starts it with .ci/start-docker.sh)")
    if not connected.image_exists(DEFAULT_BASE_IMAGE):
        pytest.fail(f"The base image {DEFAULT_BASE_IMAGE} is missing: build it with "
                    "`sudo bash .ci/start-docker.sh` (debootstrap + docker import).")
    yield connected
    connected.close()


@pytest.fixture(scope="package", autouse=True)
def pinned_server_wheel() -> Iterator[Path]:
    """One server wheel for these tests: other work in the source tree changes the wheel
    (and so every image's content tag), which would make an unchanged deployment look
    changed between two applies of the same test."""
    wheel = build_server_wheel()
    previous = os.environ.get(SERVER_WHEEL_VARIABLE)
    os.environ[SERVER_WHEEL_VARIABLE] = str(wheel)
    yield wheel
    if previous is None:
        os.environ.pop(SERVER_WHEEL_VARIABLE, None)
    else:
        os.environ[SERVER_WHEEL_VARIABLE] = previous


@pytest.fixture(scope="package")
def docker_workspace(tmp_path_factory: pytest.TempPathFactory,
                     engine: DockerEngine) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("docker-endpoints-workspace")
    yield folder
    # Last resort: nothing a failed test left behind keeps running.
    for state_dir in sorted((folder / "endpoints").glob("*")):
        stop_supervisor(state_dir)
        engine.remove_containers({STATE_LABEL: str(state_dir)}, timeout_s=2)


@pytest.fixture(scope="package")
def docker_client(docker_workspace: Path) -> MLClient:
    return MLClient(workspace=docker_workspace)


@pytest.fixture(scope="package")
def seed_code_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A code folder with the seed's score.py, unchanged."""
    folder = tmp_path_factory.mktemp("seed-code")
    shutil.copy(SEED_SCORE_PY, folder / "score.py")
    return folder


@pytest.fixture(scope="package")
def docker_endpoint(docker_client: MLClient, iris_lgbm_model_root: Path,
                    seed_code_folder: Path, docker_workspace: Path
                    ) -> Iterator[DockerEndpoint]:
    """Endpoint ``iris-docker`` on ``compute: docker``: ``blue`` (the LightGBM model with
    no code) and ``seed`` (the seed's score.py on the same model), all traffic to blue."""
    endpoints, deployments = docker_client.online_endpoints, docker_client.online_deployments
    endpoint = endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name=ENDPOINT, compute="docker"), progress=None).result()
    try:
        # One after the other: when the environment layer is cold, two builds at once
        # would both install it.
        for deployment in (no_code_deployment("blue", ENDPOINT, iris_lgbm_model_root),
                           seed_script_deployment("seed", ENDPOINT, iris_lgbm_model_root,
                                                  seed_code_folder)):
            created = deployments.begin_create_or_update(deployment, progress=None).result()
            assert created.provisioning_state == "Succeeded"
        endpoint.traffic = {"blue": 100}
        endpoints.begin_create_or_update(endpoint, progress=None).result()
        keys = endpoints.get_keys(ENDPOINT)
        yield DockerEndpoint(ENDPOINT, endpoint.scoring_uri or "", keys.primary_key,
                             docker_workspace / "endpoints" / ENDPOINT)
    finally:
        if any(e.name == ENDPOINT for e in endpoints.list()):
            endpoints.begin_delete(ENDPOINT, progress=None).result()


@pytest.fixture(scope="package")
def expected_prediction(iris_lgbm_model_root: Path) -> list[list[float]]:
    """What the LightGBM model predicts in-process for the seed's request."""
    import mlflow.lightgbm
    import numpy as np

    booster = mlflow.lightgbm.load_model(str(iris_lgbm_model_root / "model"))
    return booster.predict(np.array([[1.0, 2.0, 3.0, 4.0]])).tolist()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client
