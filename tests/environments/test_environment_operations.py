"""Environments registered in a real (embedded) workspace: versions, lookups, stored
content, and the CLI over them."""

import json
import subprocess

import pytest

from mlkube.entities.environment import Environment
from mlkube.errors import EnvironmentResolutionError, ResourceNotFoundError
from mlkube.operations.environments import EnvironmentOperations
from mlkube.workspace.workspace import Workspace
from tests.models import YAML_DIR

SERVER = "mlkube[server] @ file:///opt/wheels/mlkube-0.1.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def workspace_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("workspace") / ".mlkube"


@pytest.fixture(scope="module")
def environments(workspace_dir):
    return EnvironmentOperations(Workspace.open(workspace=workspace_dir))


def test_versions_auto_increment_and_latest_is_the_newest(environments, tmp_path):
    conda = tmp_path / "conda.yaml"
    conda.write_text("dependencies:\n  - python=3.11\n  - pip:\n    - six\n")
    first = environments.create_or_update(Environment(name="auto", conda_file=str(conda)))
    second = environments.create_or_update(Environment(name="auto", image="python:3.11-slim",
                                                       conda_file=str(conda)))
    assert (first.version, second.version) == ("1", "2")
    assert environments.get("auto", label="latest").version == "2"
    assert environments.get("auto").image == "python:3.11-slim"
    assert environments.get("auto", version="1").id == "azureml:auto:1"
    assert [e.version for e in environments.list("auto")] == ["1", "2"]


def test_conda_file_content_is_stored_so_the_file_is_no_longer_needed(environments, tmp_path):
    (tmp_path / "extra.txt").write_text("six==1.16.0\n")
    conda = tmp_path / "conda.yaml"
    conda.write_text("dependencies:\n  - python=3.11\n  - pip:\n    - -r extra.txt\n")
    environments.create_or_update(Environment(name="inlined", conda_file=str(conda)))
    conda.unlink()
    (tmp_path / "extra.txt").unlink()
    stored = environments.get("inlined")
    assert stored.conda_file == {"dependencies": ["python=3.11", {"pip": ["six==1.16.0"]}]}
    resolved = environments.resolve("azureml:inlined:1", server_requirement=SERVER)
    assert resolved.python_version == "3.11"
    assert resolved.requirements == (SERVER, "six==1.16.0")


def test_conda_only_dependencies_are_refused_at_registration(environments, tmp_path):
    conda = tmp_path / "conda.yaml"
    conda.write_text("dependencies:\n  - cudatoolkit=11.8\n  - numpy\n")
    with pytest.raises(EnvironmentResolutionError, match="cudatoolkit=11.8"):
        environments.create_or_update(Environment(name="gpu", conda_file=str(conda)))
    with pytest.raises(ResourceNotFoundError):
        environments.get("gpu")


def test_unknown_environment_names_what_was_looked_for(environments):
    with pytest.raises(ResourceNotFoundError, match="'missing'"):
        environments.get("missing", version="3")


def run_cli(capsys, *args, workspace):
    """The CLI in this process (importing mlflow again per command costs seconds)."""
    from mlkube.cli.main import main

    capsys.readouterr()
    try:
        main([*args, "--workspace", str(workspace)])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


def test_cli_creates_from_azure_yaml_and_shows_and_lists_as_json(workspace_dir, tmp_path,
                                                                 capsys):
    spec = tmp_path / "environment.yml"
    spec.write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\n"
        f"name: seed-env\nimage: mcr.microsoft.com/azureml/minimal\n"
        f"conda_file: {YAML_DIR / 'conda.yaml'}\n")
    created = run_cli(capsys, "environment", "create", "-f", str(spec), "-o", "json",
                      workspace=workspace_dir)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["version"] == "1"
    shown = run_cli(capsys, "environment", "show", "seed-env", "-o", "json",
                    workspace=workspace_dir)
    assert json.loads(shown.stdout)["conda_file"]["dependencies"][0] == "python=3.11"
    listed = run_cli(capsys, "environment", "list", "-o", "json", workspace=workspace_dir)
    assert "seed-env" in {row["name"] for row in json.loads(listed.stdout)}
    missing = run_cli(capsys, "environment", "show", "nope", workspace=workspace_dir)
    assert missing.returncode == 1
    assert "Error: No environment named 'nope'" in missing.stderr
    assert "Hint:" in missing.stderr and "Traceback" not in missing.stderr


def test_cli_creates_from_flags_alone(workspace_dir, tmp_path, capsys):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six\n")
    created = run_cli(capsys, "environment", "create", "--name", "flagged", "--pip-requirements",
                      str(requirements), "--python-version", "3.11", "-o", "json",
                      workspace=workspace_dir)
    assert created.returncode == 0, created.stderr
    data = json.loads(created.stdout)
    assert (data["name"], data["pip_requirements"], data["python_version"]) == (
        "flagged", ["six"], "3.11")
