"""Deployment images built and run in a real Docker engine: the no-code MLflow model and
the seed's score.py answer /score on 127.0.0.1 with the model's own predictions, unchanged
contexts are not rebuilt, and broken environments fail naming the step that broke."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from mlkube.environments.dockerfile import SERVER_PORT, BuildContext, render_build_context
from mlkube.environments.resolved import ResolvedEnvironment
from mlkube.errors import (
    ConflictError,
    EnvironmentBuildError,
    ResourceNotFoundError,
    TargetError,
)
from mlkube.targets.docker.engine import BuiltImage, DockerEngine
from tests.docker.conftest import HOST_CA_BUNDLE, SESSION_LABELS, run_labelled, wait_until_healthy
from tests.models import SEED_CODE

# The first image build here installs the shared environment (mlflow, LightGBM, ...):
# about 100 s on a quiet 2-core machine, several minutes when other suites load it. Every
# later build reuses that layer.
pytestmark = pytest.mark.timeout(900)

REPOSITORY = "mlkube-test/deployment"
SEED_REQUEST = {"data": [[1, 2, 3, 4]]}
# A container that idles but stops at once on SIGTERM, as the inference server does.
IDLE = ["sh", "-c", "trap 'exit 0' TERM; sleep 60 & wait"]


@pytest.fixture(scope="session")
def iris_context(model_environment, server_wheel, iris_lgbm_model_root) -> BuildContext:
    return render_build_context(
        model_environment, server_wheel,
        model_path=iris_lgbm_model_root / "model", model_name="iris-lgbm", model_version="1",
        ca_bundle=HOST_CA_BUNDLE,
    )


@pytest.fixture(scope="session")
def iris_image(
    docker_engine: DockerEngine, iris_context: BuildContext, tmp_path_factory
) -> BuiltImage:
    log = tmp_path_factory.mktemp("build-logs") / "iris.log"
    return docker_engine.build_image(iris_context, repository=REPOSITORY, log_path=log)


@pytest.fixture(scope="session")
def seed_image(docker_engine, model_environment, server_wheel, iris_lgbm_model_root,
               iris_image) -> BuiltImage:
    # Depends on iris_image so that the shared environment layer is built once, first.
    context = render_build_context(
        model_environment, server_wheel,
        model_path=iris_lgbm_model_root / "model", model_name="iris-lgbm", model_version="1",
        code_path=SEED_CODE, scoring_script="score.py", ca_bundle=HOST_CA_BUNDLE,
    )
    return docker_engine.build_image(context, repository=REPOSITORY)


@pytest.fixture(scope="session")
def expected_probabilities(iris_lgbm_model_root: Path) -> np.ndarray:
    import mlflow.lightgbm

    booster = mlflow.lightgbm.load_model(str(iris_lgbm_model_root / "model"))
    return np.asarray(booster.predict(np.array(SEED_REQUEST["data"], dtype=float)))


def test_no_code_mlflow_image_scores_seed_request_like_the_model_in_process(
    docker_engine, iris_image, expected_probabilities
):
    container = run_labelled(docker_engine, iris_image.reference, name="iris")
    base_url = wait_until_healthy(docker_engine, container)

    response = httpx.post(base_url + "/score", json=SEED_REQUEST, timeout=30)

    assert response.status_code == 200, response.text
    assert np.allclose(np.asarray(response.json()), expected_probabilities, atol=1e-6)


def test_seed_score_py_image_scores_like_the_model_in_process(
    docker_engine, seed_image, expected_probabilities
):
    container = run_labelled(docker_engine, seed_image.reference, name="seed")
    base_url = wait_until_healthy(docker_engine, container)

    response = httpx.post(base_url + "/score", json=SEED_REQUEST, timeout=30)

    assert response.status_code == 200, response.text
    assert np.allclose(np.asarray(response.json()), expected_probabilities, atol=1e-6)


def test_server_runs_as_uid_1000_with_port_published_on_loopback_only(
    docker_engine, iris_image
):
    import docker

    container = run_labelled(docker_engine, iris_image.reference, name="inspect",
                             command=["sleep", "30"])
    info = docker.APIClient(version="auto").inspect_container(container.id)

    assert info["Config"]["User"] == "1000:1000"
    bindings = info["HostConfig"]["PortBindings"][f"{SERVER_PORT}/tcp"]
    assert [binding["HostIp"] for binding in bindings] == ["127.0.0.1"]
    assert docker_engine.remove_container(container.id, timeout_s=1)


def test_unchanged_context_is_not_rebuilt(docker_engine, iris_context, iris_image):
    lines: list[str] = []

    again = docker_engine.build_image(iris_context, repository=REPOSITORY, on_output=lines.append)

    assert again.reused
    assert again.reference == iris_image.reference
    assert again.image_id == iris_image.image_id
    assert lines == [f"Image {iris_image.reference} is up to date: nothing to build."]


def test_entry_script_whose_init_raises_is_never_ready_and_logs_the_cause(
    docker_engine, model_environment, server_wheel, iris_image, tmp_path
):
    code = tmp_path / "broken"
    code.mkdir()
    (code / "score.py").write_text(
        "def init():\n    raise RuntimeError('model file checksum mismatch')\n\n"
        "def run(raw_data):\n    return raw_data\n"
    )
    context = render_build_context(model_environment, server_wheel, code_path=code,
                                   scoring_script="score.py", ca_bundle=HOST_CA_BUNDLE)
    image = docker_engine.build_image(context, repository=REPOSITORY)
    container = run_labelled(docker_engine, image.reference, name="broken-init")

    log = _wait_for_log(docker_engine, container.id, "model file checksum mismatch")
    base_url = f"http://127.0.0.1:{container.ports[SERVER_PORT]}"

    assert "RuntimeError" in log
    assert httpx.get(base_url + "/v2/health/live", timeout=5).status_code == 200  # alive
    assert httpx.get(base_url + "/ready", timeout=5).status_code == 503  # never ready
    assert httpx.get(base_url + "/", timeout=5).status_code == 503  # as Azure: not before init


def test_missing_requirement_fails_naming_the_install_step_and_the_installers_error(
    docker_engine, server_wheel, tmp_path
):
    environment = ResolvedEnvironment(
        python_version="3.11", requirements=("mlkube-no-such-distribution-xyz==0.0.1",)
    )
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.txt").write_text("1 2 3")
    context = render_build_context(environment, server_wheel, model_path=tmp_path / "model",
                                   ca_bundle=HOST_CA_BUNDLE)
    log = tmp_path / "build.log"

    with pytest.raises(EnvironmentBuildError) as caught:
        docker_engine.build_image(context, repository=REPOSITORY, log_path=log)

    message = caught.value.message
    assert "install the environment's requirements (uv pip install -r requirements.txt" in message
    assert ("mlkube-no-such-distribution-xyz was not found in the package registry"
            in message)
    assert "Step " not in message and "--->" not in message  # the cause, not builder noise
    assert str(log) in message
    assert "mlkube-no-such-distribution-xyz" in log.read_text()
    assert not docker_engine.image_exists(f"{REPOSITORY}:{context.content_hash}")


def test_python_version_the_base_image_lacks_fails_naming_both_versions(
    docker_engine, server_wheel, tmp_path
):
    environment = ResolvedEnvironment(python_version="3.9", requirements=("numpy",))
    context = render_build_context(environment, server_wheel, model_path=server_wheel)

    with pytest.raises(EnvironmentBuildError) as caught:
        docker_engine.build_image(context, repository=REPOSITORY)

    message = caught.value.message
    assert "check the base image's Python (the environment needs 3.9)" in message
    assert "needs Python 3.9 but the base image has Python 3.11" in message


def test_missing_default_base_image_says_how_to_make_it_without_pulling(
    docker_engine, server_wheel, monkeypatch
):
    monkeypatch.setenv("MLKUBE_BASE_IMAGE", "mlkube-test/no-such-base:1")
    environment = ResolvedEnvironment(python_version="3.11", requirements=("numpy",))
    context = render_build_context(environment, server_wheel, model_path=server_wheel)

    with pytest.raises(EnvironmentBuildError) as caught:
        docker_engine.build_image(context, repository=REPOSITORY)

    assert "mlkube-test/no-such-base:1 is not in this Docker engine" in caught.value.message
    assert ".ci/base-image.sh" in caught.value.hint


def test_containers_are_removed_by_label(docker_engine, iris_image):
    labels = {**SESSION_LABELS, "mlkube.io/deployment": "to-remove"}
    for index in range(2):
        docker_engine.run_container(
            iris_image.reference, name=f"mlkube-test-{labels['mlkube.io/test-session']}-rm{index}",
            labels=labels, command=["sleep", "60"],
        )

    removed = docker_engine.remove_containers(labels, timeout_s=1)

    assert len(removed) == 2
    assert docker_engine.list_containers(labels) == []


def test_second_container_with_a_taken_name_is_a_conflict_unless_replacing(
    docker_engine, iris_image
):
    name = f"mlkube-test-{SESSION_LABELS['mlkube.io/test-session']}-named"
    first = docker_engine.run_container(iris_image.reference, name=name, labels=SESSION_LABELS,
                                        command=IDLE)

    with pytest.raises(ConflictError, match=name):
        docker_engine.run_container(iris_image.reference, name=name, labels=SESSION_LABELS,
                                    command=IDLE)
    second = docker_engine.run_container(iris_image.reference, name=name, labels=SESSION_LABELS,
                                         command=IDLE, replace=True)

    assert second.id != first.id and second.running
    with pytest.raises(ResourceNotFoundError):
        docker_engine.container_state(first.id)
    docker_engine.remove_container(name, timeout_s=1)


def test_unreachable_engine_says_docker_is_not_running_and_how_to_fix_it(tmp_path):
    with pytest.raises(TargetError) as caught:
        DockerEngine.connect(base_url=f"unix://{tmp_path}/docker.sock", timeout_s=2)

    assert caught.value.message.startswith("Docker is not running")
    assert "compute: local" in caught.value.hint


def _wait_for_log(engine: DockerEngine, container_id: str, text: str,
                  deadline_s: float = 60.0) -> str:
    import time

    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        log = engine.logs(container_id)
        if text in log:
            return log
        time.sleep(0.25)
    pytest.fail(f"{text!r} not in the container log after {deadline_s}s:\n{log}")
