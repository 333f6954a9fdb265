"""Command jobs on the real cluster: ``compute="k8s"`` runs the job as a Kubernetes Job.

The workspace is on a real ``mlflow server`` (artifacts served by it) bound to the node's
address, so the job's pod records its run there as a team's cluster would. The seed's own
training code and data go into every job's image, so the jobs share one image (its
environment layer is the iris images' one, cached). The training and the failing job are
submitted as the module starts and run side by side while the tests wait for them.
"""

from __future__ import annotations

import io
import os
import subprocess
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from mlkube import Environment, Input, Model, Output, command
from mlkube.entities.job import Command, JobStatus
from mlkube.errors import JobFailedError
from tests.kubernetes_live.conftest import (
    COMPUTE,
    MLKUBE,
    LiveCluster,
    LiveWorkspace,
    attach_workspace,
    delete_namespace,
    tracking_server_on_node,
    tracking_uri,
    unique_namespace,
)
from tests.models import IRIS_CSV, SEED_DIR, iris_frame

TRAINING = SEED_DIR / "training"
#: The iris model's own requirements (tests/models.py), so the image's environment layer
#: is the one the endpoint tests built.
ENVIRONMENT = Environment(
    python_version="3.11",
    pip_requirements=[f"{n}=={version(n)}" for n in
                      ("mlflow", "lightgbm", "pandas", "numpy", "scikit-learn")])
TRAIN = ("python train.py --iris-csv ${{inputs.iris_csv}} --learning-rate "
         "${{inputs.learning_rate}} --boosting ${{inputs.boosting}}")


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with tracking_server_on_node(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


@pytest.fixture(scope="module")
def jobs_workspace(tmp_path_factory: pytest.TempPathFactory, live_cluster: LiveCluster,
                   tracking_server: str) -> Iterator[LiveWorkspace]:
    """A workspace on the tracking server with compute k8s installed in a namespace of
    this module's own (deleted at its end)."""
    namespace = unique_namespace("t-command-jobs")
    with tracking_uri(tracking_server):
        try:
            workspace = attach_workspace(tmp_path_factory.mktemp("ws-jobs"), live_cluster,
                                         namespace)
            workspace.mlkube("cluster", "install", "--compute", COMPUTE)
            yield workspace
        finally:
            delete_namespace(live_cluster, namespace)


def _job(command_line: str, **extra: object) -> Command:
    """A job with the seed's training code and data (so every job has the same image)."""
    return command(
        code=str(TRAINING), command=command_line, environment=ENVIRONMENT, compute=COMPUTE,
        inputs={"iris_csv": Input(type="uri_file", path=str(IRIS_CSV)),
                "learning_rate": 0.9, "boosting": "gbdt"},
        experiment_name="iris-on-k8s", **extra)


def _k8s_jobs(cluster: LiveCluster, namespace: str, name: str) -> list[object]:
    from kubernetes import client

    with cluster.api() as api:
        return list(client.BatchV1Api(api).list_namespaced_job(
            namespace, label_selector=f"mlkube.io/job={name}").items)


@pytest.fixture(scope="module")
def submitted(jobs_workspace: LiveWorkspace, tmp_path_factory: pytest.TempPathFactory,
              ) -> Iterator[dict[str, Command]]:
    """The seed's training (through the SDK) and a failing command (``mlkube job create
    -f job.yml``), submitted at once: both run in the background."""
    spec = _job("echo reading ${{inputs.iris_csv}} && python -c \"import sys; "
                "print('cannot converge'); sys.exit(3)\"").to_dict()
    spec["compute"] = f"azureml:{COMPUTE}"
    spec["environment"] = {"python_version": ENVIRONMENT.python_version,
                           "pip_requirements": ENVIRONMENT.pip_requirements}
    job_yaml = tmp_path_factory.mktemp("failing-job") / "job.yml"
    job_yaml.write_text(yaml.safe_dump(spec))
    # The command's start-up overlaps the SDK's submission.
    cli = subprocess.Popen(
        [MLKUBE, "job", "create", "-f", str(job_yaml), "--output", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "MLKUBE_WORKSPACE": str(jobs_workspace.folder)})

    client = jobs_workspace.client()
    training = client.jobs.create_or_update(_job(
        TRAIN + " && mkdir -p ${{outputs.report}} && echo trained > ${{outputs.report}}/"
        "done.txt && echo trained in pod $HOSTNAME",
        outputs={"report": Output(type="uri_folder")}))
    # More CPU than the node has: no pod of it can ever be scheduled.
    unschedulable = client.jobs.create_or_update(_job(
        "echo never", resources={"requests": {"cpu": "64"}}))
    stdout, stderr = cli.communicate(timeout=300)
    assert cli.returncode == 0, stdout + stderr
    failing = client.jobs.get(yaml.safe_load(stdout)["name"])
    yield {"training": training, "failing": failing, "unschedulable": unschedulable}
    for job in (training, failing, unschedulable):  # a partial run (-k, -x) leaves nothing running
        client.jobs.cancel(str(job.name))


def test_seed_training_job_runs_as_a_kubernetes_job_and_its_model_comes_back(
        jobs_workspace: LiveWorkspace, submitted: dict[str, Command], tracking_server: str,
        tmp_path: Path):
    client = jobs_workspace.client()
    job = submitted["training"]
    assert job.status == JobStatus.QUEUED

    out = io.StringIO()
    finished = client.jobs.stream(str(job.name), write=out.write, timeout=600)
    log = out.getvalue()
    assert finished.status == JobStatus.COMPLETED, log[-4000:]
    assert f"Job {job.name} ended: Completed (exit code 0)" in log
    (k8s_job,) = _k8s_jobs(jobs_workspace.cluster, jobs_workspace.namespace, str(job.name))
    # The pod's own output, streamed: it ran in the Job's pod, from an image by digest.
    assert f"trained in pod {k8s_job.metadata.name}-" in log  # type: ignore[attr-defined]
    image = k8s_job.spec.template.spec.containers[0].image  # type: ignore[attr-defined]
    assert image.startswith(f"{jobs_workspace.cluster.registry}/mlkube-jobs@sha256:")
    assert client.jobs.get(str(job.name)).status == JobStatus.COMPLETED

    # autolog in the pod recorded into the job's run on the tracking server.
    run = MlflowClient(tracking_server).get_run(str(finished.run_id))
    assert run.data.params["learning_rate"] == "0.9"
    assert run.data.metrics["test-multi_logloss"] < 1.0
    report = MlflowClient(tracking_server).download_artifacts(
        str(finished.run_id), "report/done.txt", str(tmp_path))
    assert Path(report).read_text() == "trained\n"

    model = client.models.create_or_update(Model(
        name="iris-from-k8s", type="mlflow_model",
        path=f"azureml://jobs/{job.name}/outputs/artifacts/paths/model/"))
    target = client.models.download(model.name, model.version, download_path=tmp_path / "m")
    features, labels = iris_frame()
    proba = np.asarray(mlflow.pyfunc.load_model(str(target)).predict(features))
    assert (proba.argmax(axis=1) == labels.to_numpy()).mean() > 0.9


def test_failing_command_ends_failed_with_its_last_log_lines_through_the_cli(
        jobs_workspace: LiveWorkspace, submitted: dict[str, Command]):
    name = str(submitted["failing"].name)
    streamed = jobs_workspace.mlkube("job", "stream", "--name", name, check=False)
    assert streamed.returncode == 1, streamed.stdout + streamed.stderr
    # The input is a file inside the pod's image, named as the command received it.
    assert "reading /var/azureml-app/inputs/iris_csv/iris.csv" in streamed.stdout
    assert "Traceback" not in streamed.stderr
    assert "exit code 3" in streamed.stderr and "cannot converge" in streamed.stderr

    shown = jobs_workspace.client().jobs.get(name)
    assert (shown.status, shown.exit_code) == (JobStatus.FAILED, 3)
    assert shown.error is not None and "cannot converge" in shown.error


def test_a_pod_no_node_fits_fails_the_job_with_the_fix_and_leaves_no_job_behind(
        jobs_workspace: LiveWorkspace, submitted: dict[str, Command]):
    client = jobs_workspace.client()
    name = str(submitted["unschedulable"].name)
    with pytest.raises(JobFailedError) as error:
        client.jobs.stream(name, write=lambda _text: None, timeout=300)
    assert "No node has enough cpu" in str(error.value)
    assert "asks for cpu 64" in str(error.value)
    assert "resources.requests" in str(error.value)  # the fix, recorded with the cause
    failed = client.jobs.get(name)
    assert failed.status == JobStatus.FAILED and failed.exit_code is None
    # Kubernetes would keep the pod pending forever: mlkube deleted the Job.
    deadline = time.monotonic() + 60
    while _k8s_jobs(jobs_workspace.cluster, jobs_workspace.namespace, name):
        assert time.monotonic() < deadline, "the unschedulable job's Job was left behind"
        time.sleep(1)


def test_cancel_deletes_the_running_job_and_marks_it_canceled(
        jobs_workspace: LiveWorkspace, submitted: dict[str, Command]):
    client = jobs_workspace.client()
    job = client.jobs.create_or_update(_job("echo waiting for cancel && sleep 600"))
    name = str(job.name)
    deadline = time.monotonic() + 300
    while client.jobs.get(name).status != JobStatus.RUNNING:
        assert client.jobs.get(name).status not in JobStatus.TERMINAL, client.jobs.get(name)
        assert time.monotonic() < deadline, "the job never ran"
        time.sleep(1)

    canceled = client.jobs.cancel(name)
    assert canceled.status == JobStatus.CANCELED
    assert client.jobs.get(name).status == JobStatus.CANCELED
    assert _k8s_jobs(jobs_workspace.cluster, jobs_workspace.namespace, name) == []
    out = io.StringIO()
    client.jobs.stream(name, write=out.write, timeout=60)
    assert "waiting for cancel" in out.getvalue()
    assert f"Job {name} ended: Canceled" in out.getvalue()


def test_embedded_workspace_is_refused_naming_the_tracking_server_it_needs(
        live_cluster: LiveCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MLKUBE_TRACKING_URI", raising=False)
    embedded = attach_workspace(tmp_path / "embedded", live_cluster, "t-unused")
    (tmp_path / "job.yml").write_text(yaml.safe_dump({
        "type": "command", "command": "python train.py", "code": str(TRAINING),
        "environment": "azureml:AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu@latest",
        "compute": f"azureml:{COMPUTE}"}))
    done = embedded.mlkube("job", "create", "-f", str(tmp_path / "job.yml"), check=False)
    assert done.returncode == 1
    assert embedded.client().jobs.list() == []
    assert "embedded" in done.stderr and "mlflow server" in done.stderr
    assert "MLKUBE_TRACKING_URI" in done.stderr
    assert "Traceback" not in done.stderr
