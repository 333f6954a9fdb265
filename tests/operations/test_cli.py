"""The real `mlkube` command (subprocesses) for models, jobs, computes and the workspace."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

from mlkube.operations.computes import ComputeOperations
from mlkube.operations.jobs import JobOperations
from mlkube.operations.models import ModelOperations
from mlkube.workspace import Workspace
from tests.models import IRIS_CSV
from tests.workspace.backends import MLKUBE, unique, workspace_env


def mlkube(*args: str, workspace: Workspace, cwd: Path | None = None,
           timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLKUBE, *args], env=workspace_env(workspace), cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def json_of(result: subprocess.CompletedProcess[str]):  # any JSON value
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_workspace_show_names_the_tracking_uri_for_plain_mlflow(workspace: Workspace):
    shown = json_of(mlkube("workspace", "show", "-o", "json", workspace=workspace))
    assert shown["folder"] == str(workspace.root)
    if workspace.location.embedded:
        assert shown["tracking_uri"] == workspace.tracking_uri
    else:
        # The database password is not printed unless asked for (--show-secrets).
        assert shown["tracking_uri"] == workspace.tracking_uri.replace(":mlkube@", ":***@")


def test_model_create_and_download_through_the_cli(
        sqlite_workspace: Workspace, iris_lgbm_model_root: Path, tmp_path: Path):
    workspace = sqlite_workspace
    name = unique("cli-iris")
    spec = tmp_path / "model.yml"
    spec.write_text(textwrap.dedent(f"""\
        $schema: https://azuremlschemas.azureedge.net/latest/model.schema.json
        name: {name}
        path: {iris_lgbm_model_root / "model"}
        type: mlflow_model
        description: iris from the CLI
        """))
    created = json_of(mlkube("model", "create", "-f", str(spec), "-o", "json",
                             workspace=workspace))
    assert (created["name"], created["version"], created["type"]) == (name, "1", "mlflow_model")
    assert ModelOperations(workspace).get(name, label="latest").description == \
        "iris from the CLI"
    downloaded = json_of(mlkube("model", "download", "-n", name, "-v", "1",
                                "--download-path", str(tmp_path / "with space"), "-o", "json",
                                workspace=workspace))
    assert Path(downloaded["path"]) == tmp_path / "with space" / name / "model"
    assert (Path(downloaded["path"]) / "MLmodel").is_file()


def test_model_create_without_mlmodel_prints_cause_and_hint_not_a_traceback(
        sqlite_workspace: Workspace, tmp_path: Path):
    result = mlkube("model", "create", "--name", "broken", "--path", str(tmp_path),
                    "--type", "mlflow_model", workspace=sqlite_workspace)
    assert result.returncode == 1
    assert "Error:" in result.stderr and "no MLmodel file" in result.stderr
    assert "Hint:" in result.stderr and "Traceback" not in result.stderr


def test_job_from_azure_yaml_runs_after_the_cli_exits_and_streams(
        sqlite_workspace: Workspace, tmp_path: Path):
    # A job YAML as Azure ML v2 writes it, paths relative to the YAML file.
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "count.py").write_text(textwrap.dedent("""\
        import sys
        rows = open(sys.argv[1]).read().splitlines()
        print(f"rows={len(rows) - 1} scale={sys.argv[2]}")
        """))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "iris.csv").write_text((IRIS_CSV).read_text())
    spec = tmp_path / "job.yml"
    name = unique("cli-job")
    spec.write_text(textwrap.dedent(f"""\
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        name: {name}
        type: command
        code: ./src
        command: python count.py ${{{{inputs.iris}}}} ${{{{inputs.scale}}}}
        inputs:
          iris:
            type: uri_file
            path: ./data/iris.csv
          scale: 2
        compute: local
        experiment_name: cli-tests
        """))
    created = json_of(mlkube("job", "create", "-f", str(spec), "-o", "json",
                             workspace=sqlite_workspace, cwd=tmp_path))
    assert created["name"] == name and created["status"] in ("Queued", "Running")
    # The `job create` process has exited; the job goes on and its log streams.
    streamed = mlkube("job", "stream", "-n", name, workspace=sqlite_workspace)
    assert streamed.returncode == 0, streamed.stderr[-3000:]
    assert "rows=150 scale=2" in streamed.stdout
    shown = JobOperations(sqlite_workspace).get(name)
    assert (shown.status, shown.exit_code) == ("Completed", 0)


def test_compute_attach_and_list_through_the_cli(sqlite_workspace: Workspace,
                                                        tmp_path: Path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    name = unique("k8s")
    attached = json_of(mlkube(
        "compute", "attach", "--name", name, "--kubeconfig", str(kubeconfig),
        "--context", "kind-dev", "--namespace", "models", "--registry", "127.0.0.1:5000/ml",
        "-o", "json", workspace=sqlite_workspace))
    assert (attached["type"], attached["namespace"]) == ("kubernetes", "models")
    listed = json_of(mlkube("compute", "list", "-o", "json", workspace=sqlite_workspace))
    assert {"local", "docker", name} <= {c["name"] for c in listed}
    ComputeOperations(sqlite_workspace).detach(name)


def test_a_model_is_named_name_at_label_wherever_the_cli_names_one(
        sqlite_workspace: Workspace, iris_lgbm_model_root: Path, tmp_path: Path):
    workspace = sqlite_workspace
    name = unique("labelled")
    for _ in range(2):
        json_of(mlkube("model", "create", "-n", name, "-p", str(iris_lgbm_model_root / "model"),
                       "-t", "mlflow_model", "-o", "json", workspace=workspace))
    # An MLflow alias set with plain MLflow is a label too.
    workspace.client.set_registered_model_alias(name, "champion", "1")
    assert json_of(mlkube("model", "show", "-n", f"{name}@latest", "-o", "json",
                          workspace=workspace))["version"] == "2"
    assert json_of(mlkube("model", "show", "-n", f"{name}@champion", "-o", "json",
                          workspace=workspace))["version"] == "1"
    assert json_of(mlkube("model", "show", "-n", f"azureml:{name}:1", "-o", "json",
                          workspace=workspace))["version"] == "1"
    downloaded = json_of(mlkube("model", "download", "-n", f"{name}@champion", "-p",
                                str(tmp_path), "-o", "json", workspace=workspace))
    assert downloaded["version"] == "1"
    assert (Path(downloaded["path"]) / "MLmodel").is_file()

    missing = mlkube("model", "show", "-n", f"{name}@nosuch", workspace=workspace)
    assert missing.returncode == 1
    # The hint's command works as written.
    hint = missing.stderr.split("`")[1]
    assert hint == f"mlkube model list --name {name}", missing.stderr
    assert mlkube(*hint.split()[1:], workspace=workspace).returncode == 0
