"""Command jobs: the seed's training end to end, failures, inputs, cancel — on both backends."""

from __future__ import annotations

import http.server
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pytest

from mlkube.entities.environment import Environment
from mlkube.entities.input import Input, Output
from mlkube.entities.job import JobStatus, command
from mlkube.entities.model import Model
from mlkube.errors import (
    JobFailedError,
    RequiredLocalArtifactsNotFoundError,
    ResourceNotFoundError,
    ValidationError,
)
from mlkube.operations.client import MLClient
from mlkube.workspace import Workspace
from tests.models import IRIS_CSV, iris_frame
from tests.workspace.backends import BACKENDS, unique, workspace_for


def client_for(workspace: Workspace) -> MLClient:
    location = workspace.location
    return MLClient(workspace=location.root,
                    tracking_uri=None if location.embedded else location.tracking_uri,
                    artifact_location=None if location.embedded
                    else location.artifact_location)


def backend_of(workspace: Workspace) -> str:
    return "sqlite" if workspace.location.embedded else "postgresql"


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving the seed folder."""
    folder = str(IRIS_CSV.parent)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=folder, **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def small_jobs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               http_server: str) -> Iterator[dict[str, dict[str, str]]]:
    """The small jobs of the tests below, on every backend, submitted at once so their
    runners start side by side: {backend: {"failing": name, "inputs": name, "loop": name,
    "marker": path}}."""
    submitted: dict[str, dict[str, str]] = {}
    clients = {}
    for backend in BACKENDS:
        workspace = workspace_for(backend, tmp_path_factory, request.session.config.add_cleanup)
        client = clients[backend] = client_for(workspace)
        marker = tmp_path_factory.mktemp("loop") / "still-running"
        submitted[backend] = {
            "failing": client.jobs.create_or_update(command(
                command="python -c \"import sys; print('loading data'); "
                        "print('KeyError: petal_size', file=sys.stderr); sys.exit(3)\"")).name,
            "inputs": client.jobs.create_or_update(command(
                command="head -n 1 ${{inputs.data}} && echo rate=${{inputs.rate}} "
                        "$[[--optional ${{inputs.absent}}]] && "
                        "cp ${{inputs.data}} ${{outputs.copy}}/",
                inputs={"data": Input(type="uri_file", path=f"{http_server}/iris.csv"),
                        "rate": 0.5, "absent": Input(type="uri_file", optional=True)},
                outputs={"copy": Output()},
            )).name,
            "loop": client.jobs.create_or_update(command(
                command=f"while true; do touch '{marker}'; sleep 0.2; done")).name,
            "marker": str(marker),
        }
    yield submitted
    for backend, jobs in submitted.items():
        for key in ("failing", "inputs", "loop"):
            clients[backend].jobs.cancel(jobs[key])


# --- checked before anything runs --------------------------------------------------------


def test_bad_input_reference_fails_before_anything_runs_naming_it_and_known_inputs(
        workspace: Workspace):
    client = client_for(workspace)
    name = unique("never-runs")
    job = command(name=name, command="python train.py --data ${{inputs.iris}}",
                  inputs={"iris_csv": Input(type="uri_file", path=str(IRIS_CSV)), "lr": 0.1})
    with pytest.raises(ValidationError) as caught:
        client.jobs.create_or_update(job)
    assert "${{inputs.iris}}" in caught.value.message
    assert "iris_csv, lr" in caught.value.message
    with pytest.raises(ResourceNotFoundError):
        client.jobs.get(name)
    assert not (workspace.jobs_folder / name).exists()


def test_missing_input_path_is_named_before_the_job_is_created(workspace: Workspace,
                                                               tmp_path: Path):
    client = client_for(workspace)
    missing = tmp_path / "no such file.csv"
    name = unique("never-runs")
    job = command(name=name, command="cat ${{inputs.data}}",
                  inputs={"data": Input(type="uri_file", path=str(missing))})
    with pytest.raises(RequiredLocalArtifactsNotFoundError) as caught:
        client.jobs.create_or_update(job)
    assert "'data'" in caught.value.message and str(missing) in caught.value.message
    with pytest.raises(ResourceNotFoundError):
        client.jobs.get(name)


def test_missing_code_folder_is_named(workspace: Workspace, tmp_path: Path):
    job = command(code=str(tmp_path / "src"), command="python train.py")
    with pytest.raises(RequiredLocalArtifactsNotFoundError) as caught:
        client_for(workspace).jobs.create_or_update(job)
    assert str(tmp_path / "src") in caught.value.message


# --- running -------------------------------------------------------------------------------


def test_failing_job_reports_exit_code_and_last_log_lines(
        workspace: Workspace, small_jobs: dict[str, dict[str, str]]):
    client = client_for(workspace)
    name = small_jobs[backend_of(workspace)]["failing"]
    out = io.StringIO()
    with pytest.raises(JobFailedError) as caught:
        client.jobs.stream(name, write=out.write, timeout=240)
    assert "exit code 3" in caught.value.message
    assert "KeyError: petal_size" in caught.value.message
    assert "loading data" in out.getvalue()
    failed = client.jobs.get(name)
    assert (failed.status, failed.exit_code) == (JobStatus.FAILED, 3)
    assert "KeyError: petal_size" in failed.error
    # The job is an MLflow run that plain MLflow sees as failed.
    assert workspace.client.get_run(failed.run_id).info.status == "FAILED"


def test_url_and_literal_inputs_and_named_outputs(workspace: Workspace,
                                                  small_jobs: dict[str, dict[str, str]]):
    client = client_for(workspace)
    name = small_jobs[backend_of(workspace)]["inputs"]
    out = io.StringIO()
    finished = client.jobs.stream(name, write=out.write, timeout=240)
    assert finished.status == JobStatus.COMPLETED
    assert "sepal_length,sepal_width" in out.getvalue()
    assert "rate=0.5" in out.getvalue() and "--optional" not in out.getvalue()
    assert client.jobs.output_uri(name, "copy").endswith("copy")


def test_cancel_stops_a_running_job_and_its_processes(workspace: Workspace,
                                                      small_jobs: dict[str, dict[str, str]]):
    client = client_for(workspace)
    name = small_jobs[backend_of(workspace)]["loop"]
    marker = Path(small_jobs[backend_of(workspace)]["marker"])
    deadline = time.monotonic() + 180
    while not marker.exists():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.2)
    assert client.jobs.get(name).status == JobStatus.RUNNING
    canceled = client.jobs.begin_cancel(name).result()
    assert canceled.status == JobStatus.CANCELED
    # The command's process group is gone: the marker stops being touched.
    marker.unlink()
    time.sleep(1.0)
    assert not marker.exists()


def test_seed_training_job_end_to_end(workspace: Workspace, training_jobs: dict[str, str],
                                      tmp_path: Path):
    """The seed's train.py as a command job: autolog records into the job's run; its model
    output is registered, fetched as latest, downloaded into a path with spaces, loaded."""
    client = client_for(workspace)
    name = training_jobs[backend_of(workspace)]
    out = io.StringIO()
    job = client.jobs.stream(name, write=out.write, timeout=240)
    assert job.status == JobStatus.COMPLETED, out.getvalue()[-3000:]
    run = workspace.client.get_run(job.run_id)
    assert run.data.metrics["test-multi_logloss"] < 0.5  # autolog, on the script's test set

    model_name = unique("iris-from-job")
    first = client.models.create_or_update(Model(
        name=model_name, type="mlflow_model",
        path=f"azureml://jobs/{name}/outputs/artifacts/paths/model/"))
    second = client.models.create_or_update(Model(
        name=model_name, type="mlflow_model",
        path=f"jobs:/{name}/outputs/artifacts/paths/model"))
    assert (first.version, second.version) == ("1", "2")
    assert first.job_name == name

    latest = client.models.get(model_name, label="latest")
    assert latest.version == "2"
    target = client.models.download(model_name, latest.version,
                                    download_path=tmp_path / "my downloads" / "iris model")
    assert target == tmp_path / "my downloads" / "iris model" / model_name / "model"
    assert (target / "MLmodel").is_file()

    X, y = iris_frame()
    proba = np.asarray(mlflow.pyfunc.load_model(str(target)).predict(X))
    assert (proba.argmax(axis=1) == y.to_numpy()).mean() > 0.9


def test_job_with_an_environment_runs_in_its_cached_virtualenv(
        sqlite_workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # The runner inherits the cache folder; the environment is built by the environments
    # package (uv or pip), then reused.
    monkeypatch.setenv("MLKUBE_CACHE_DIR", str(tmp_path / "env-cache"))
    client = client_for(sqlite_workspace)
    job = client.jobs.create_or_update(command(
        command="python -c 'import six, sys; print(\"six from\", sys.prefix)'",
        environment=Environment(pip_requirements=["six"], python_version="3.11")))
    out = io.StringIO()
    finished = client.jobs.stream(job.name, write=out.write, timeout=240)
    assert finished.status == JobStatus.COMPLETED, out.getvalue()[-2000:]
    assert f"six from {tmp_path / 'env-cache'}" in out.getvalue()
