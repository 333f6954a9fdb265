"""A command job's Kubernetes objects, rendered without a cluster: what runs, as whom, with
which secrets and sizes, and the errors a bad spec gets before anything is applied."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlkube.errors import ValidationError
from mlkube.targets.kubernetes.job_manifests import (
    COMMAND_VARIABLE,
    job_output_path,
    job_script,
    owned_by,
    render_job_manifests,
)
from mlkube.targets.kubernetes.sizing import job_pod_resources

IMAGE = "127.0.0.1:5100/mlkube-jobs@sha256:" + "a" * 64


def render(job: str = "calm_otter_1a2b3c4d", **overrides: Any) -> list[dict[str, Any]]:
    arguments: dict[str, Any] = {
        "namespace": "ml", "image": IMAGE, "command": "python train.py --lr 0.1",
        "code_dir": "/var/azureml-app/code", "outputs": ["model"],
        "variables": {"MLFLOW_RUN_ID": "r1", "GREETING": "hi"},
        "secret_variables": {"MLFLOW_TRACKING_URI": "http://u:pw@10.0.0.5:5000"},
        "resources": job_pod_resources(None), "run_id": "r1", "experiment": "iris"}
    arguments.update(overrides)
    return render_job_manifests(job, **arguments)


def container(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    job = next(m for m in manifests if m["kind"] == "Job")
    return dict(job["spec"]["template"]["spec"]["containers"][0])


def test_job_runs_once_unprivileged_without_api_credentials():
    secret, job = render()
    assert (secret["kind"], job["kind"]) == ("Secret", "Job")
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "mlkube-workload"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container([secret, job])["image"] == IMAGE


def test_generated_job_names_become_valid_object_names_and_stay_findable_by_label():
    secret, job = render("calm_otter_1a2b3c4d")
    name = job["metadata"]["name"]
    assert name.startswith("calm-otter-1a2b3c4d-") and len(name) <= 63
    assert job["metadata"]["labels"]["mlkube.io/job"] == "calm_otter_1a2b3c4d"
    assert job["metadata"]["annotations"]["mlkube.io/job-name"] == "calm_otter_1a2b3c4d"
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["mlkube.io/job"] == "calm_otter_1a2b3c4d"
    assert render("Train-Iris")[1]["metadata"]["name"] != render("train-iris")[1]["metadata"][
        "name"]


def test_tracking_uri_with_its_password_is_only_in_the_secret():
    secret, job = render()
    spec_text = str(job)
    assert "pw@" not in spec_text
    assert base64.b64decode(secret["data"]["MLFLOW_TRACKING_URI"]).decode() == (
        "http://u:pw@10.0.0.5:5000")
    env = {e["name"]: e["value"] for e in container([secret, job])["env"]}
    assert env["GREETING"] == "hi" and env["MLFLOW_RUN_ID"] == "r1"
    assert env[COMMAND_VARIABLE] == "python train.py --lr 0.1"
    assert container([secret, job])["envFrom"] == [
        {"secretRef": {"name": secret["metadata"]["name"]}}]


def test_a_variable_named_like_a_secret_one_is_not_put_in_the_spec():
    _secret, job = render(variables={"MLFLOW_TRACKING_URI": "file:///mine"})
    names = [e["name"] for e in container([_secret, job])["env"]]
    assert "MLFLOW_TRACKING_URI" not in names


def test_instance_type_sizes_the_pod_as_the_whole_vm_and_requests_win():
    sized = container(render(resources=job_pod_resources({"instance_type": "Standard_DS3_v2"})))
    assert sized["resources"] == {"requests": {"cpu": "4", "memory": "14Gi"},
                                  "limits": {"cpu": "4", "memory": "14Gi"}}
    given = container(render(resources=job_pod_resources(
        {"instance_type": "Standard_DS3_v2", "requests": {"cpu": "1", "memory": "2Gi"}})))
    assert given["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}}
    default = container(render())["resources"]
    assert default == {"requests": {"cpu": "100m", "memory": "1Gi"},
                       "limits": {"memory": "2Gi"}}


def test_limits_timeout_becomes_the_jobs_deadline():
    assert render(timeout_seconds=900)[1]["spec"]["activeDeadlineSeconds"] == 900
    assert "activeDeadlineSeconds" not in render()[1]["spec"]


@pytest.mark.parametrize(("resources", "named"), [
    ({"instance_count": 2}, "instance_count"),
    ({"shm_size": "2g"}, "shm_size"),
    ({"instance_type": "Standard_DS3v2"}, "Standard_DS3_v2"),
])
def test_job_resources_kubernetes_cannot_honour_are_refused_with_the_fix(
        resources: dict[str, Any], named: str):
    with pytest.raises(ValidationError) as error:
        job_pod_resources(resources)
    assert named in f"{error.value} {error.value.hint}"


def test_bad_names_are_refused_before_anything_is_applied():
    with pytest.raises(ValidationError, match="not a valid Kubernetes name"):
        render(namespace="My_Namespace")
    with pytest.raises(ValidationError, match="environment variable"):
        render(variables={"A=B": "x"})
    with pytest.raises(ValidationError, match="positive"):
        render(timeout_seconds=0)
    with pytest.raises(ValidationError, match="empty"):
        render(command="  ")
    with pytest.raises(ValidationError, match="output"):
        job_output_path("../x")


def test_the_secret_is_owned_by_the_job_once_it_exists():
    secret, _job = render()
    owned = owned_by(secret, {"apiVersion": "batch/v1", "kind": "Job",
                              "metadata": {"name": "j", "uid": "1234"}})
    assert owned["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "1234"}]
    assert "ownerReferences" not in secret["metadata"]
    with pytest.raises(ValidationError, match="uid"):
        owned_by(secret, {"kind": "Job", "metadata": {"name": "j"}})


def _run_script(tmp_path: Path, command: str, *, outputs: tuple[str, ...] = ()) -> (
        subprocess.CompletedProcess[str]):
    """The pod's script as bash runs it, with the image's code folder on this machine."""
    code = tmp_path / "image-code"
    code.mkdir(exist_ok=True)
    (code / "train.py").write_text("print('hello from train.py')\n")
    script = job_script(code_dir=str(code), outputs=outputs).replace(
        "/tmp/mlkube-job", str(tmp_path / "work"))
    env = {"PATH": os.environ["PATH"], COMMAND_VARIABLE: command}
    return subprocess.run(["/bin/bash", "-c", script], env=env, capture_output=True,
                          text=True, timeout=60)


def test_the_pods_script_runs_the_command_in_a_writable_copy_of_the_code(tmp_path: Path):
    done = _run_script(tmp_path, "python3 train.py && echo saved > model.txt && "
                                 "echo \"$1-quoted 'args' ok\"")
    assert done.returncode == 0, done.stderr
    assert "hello from train.py" in done.stdout and "-quoted 'args' ok" in done.stdout
    assert (tmp_path / "work" / "code" / "model.txt").read_text() == "saved\n"
    assert not (tmp_path / "image-code" / "model.txt").exists()


def test_the_pods_script_exits_with_the_commands_code(tmp_path: Path):
    done = _run_script(tmp_path, "echo failing; exit 7", outputs=("model",))
    assert done.returncode == 7
    assert "failing" in done.stdout
    assert (tmp_path / "work" / "outputs" / "model").is_dir()


def test_the_pods_script_passes_sigterm_on_to_the_command(tmp_path: Path):
    code = tmp_path / "image-code"
    code.mkdir()
    script = job_script(code_dir=str(code), outputs=()).replace(
        "/tmp/mlkube-job", str(tmp_path / "work"))
    process = subprocess.Popen(
        ["/bin/bash", "-c", script], stdout=subprocess.PIPE, text=True,
        env={"PATH": os.environ["PATH"],
             COMMAND_VARIABLE: "trap 'echo stopping; exit 0' TERM; echo started; "
                               "while true; do sleep 0.1; done"})
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "started"
    process.terminate()
    assert process.wait(timeout=10) == 0
    assert "stopping" in process.stdout.read()
