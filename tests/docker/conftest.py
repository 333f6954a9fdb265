"""Fixtures for the image and container tests: a real Docker engine, mlkube's server
wheel, and ONE environment shared by every image, so the slow layer (the virtualenv with
mlflow and LightGBM) is built once per machine and reused by every build after it.

The engine must be running (``bash .ci/start-docker.sh`` starts it and builds the base
image); without it these tests fail with that instruction rather than being skipped.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlkube.environments.dockerfile import DEFAULT_BASE_IMAGE, SERVER_PORT
from mlkube.environments.resolved import ResolvedEnvironment
from mlkube.environments.server_package import build_server_wheel, server_requirement
from mlkube.errors import MlkubeError
from mlkube.targets.docker.engine import ContainerState, DockerEngine

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
#: Labels every container of this test session carries, so teardown removes only ours.
SESSION_LABELS = {"mlkube.io/test-session": uuid.uuid4().hex[:12]}
READY_DEADLINE_S = 120.0


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    try:
        engine = DockerEngine.connect()
    except MlkubeError as error:
        pytest.fail(f"{error.message}\n{error.hint}\n(CI starts it with .ci/start-docker.sh)")
    if not engine.image_exists(DEFAULT_BASE_IMAGE):
        pytest.fail(
            f"The base image {DEFAULT_BASE_IMAGE} is missing: build it with "
            "`sudo bash .ci/start-docker.sh` (debootstrap + docker import, about a minute)."
        )
    yield engine
    engine.remove_containers(SESSION_LABELS, timeout_s=2)
    engine.close()


@pytest.fixture(scope="session")
def server_wheel() -> Path:
    return build_server_wheel()


@pytest.fixture(scope="session")
def model_environment(iris_lgbm_model_root: Path, server_wheel: Path) -> ResolvedEnvironment:
    """The environment of every image in these tests: the iris model's own pinned
    requirements (mlflow, lightgbm, pandas, numpy, scikit-learn) plus mlkube's server."""
    lines = (iris_lgbm_model_root / "model" / "requirements.txt").read_text().splitlines()
    # Sorted as environment resolution sorts them, so deployments of this model on the
    # docker target (tests/endpoints_docker) reuse the same environment layer.
    requirements = sorted(
        line.strip() for line in lines if line.strip() and not line.startswith("#"))
    return ResolvedEnvironment(
        python_version="3.11",
        requirements=(*requirements, server_requirement(server_wheel)),
        sources=("model requirements.txt",) * len(requirements) + ("added by mlkube",),
    )


def run_labelled(
    engine: DockerEngine, image: str, *, name: str, **kwargs: object
) -> ContainerState:
    """Start a container of ``image`` that this session's teardown removes."""
    return engine.run_container(
        image,
        name=f"mlkube-test-{SESSION_LABELS['mlkube.io/test-session']}-{name}",
        labels=SESSION_LABELS,
        ports=[SERVER_PORT],
        **kwargs,  # type: ignore[arg-type]
    )


def wait_until_healthy(engine: DockerEngine, container: ContainerState) -> str:
    """Poll ``GET /`` and ``GET /ready`` on the container's published port until both
    answer 200; the base URL. Fails at once, with the container's log, if the container
    exits."""
    base_url = f"http://127.0.0.1:{container.ports[SERVER_PORT]}"
    deadline = time.monotonic() + READY_DEADLINE_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        state = engine.container_state(container.id)
        if not state.running:
            pytest.fail(
                f"container {state.name} exited with code {state.exit_code} before it was "
                f"ready; its log:\n{engine.logs(container.id, tail=60)}"
            )
        try:
            # Liveness first (GET /, as Azure ML probes), then readiness: the model loaded.
            live = httpx.get(base_url + "/", timeout=2.0)
            ready = httpx.get(base_url + "/ready", timeout=2.0)
            if live.status_code == 200 and ready.status_code == 200:
                return base_url
            last = f"GET / {live.status_code}, GET /ready {ready.status_code} {ready.text[:200]}"
        except httpx.TransportError as error:
            last = repr(error)
        time.sleep(0.25)
    pytest.fail(
        f"container {container.name} not healthy within {READY_DEADLINE_S}s ({last}); log:\n"
        f"{engine.logs(container.id, tail=60)}"
    )
