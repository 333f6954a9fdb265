"""MLClient: Azure ML's constructor and config file, the native forms, and computes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlkube.entities.compute import AmlCompute, KubernetesCompute
from mlkube.errors import ConflictError, ResourceNotFoundError, ValidationError
from mlkube.operations.client import DefaultAzureCredential, MLClient
from mlkube.workspace import Workspace
from tests.workspace.backends import unique


def test_sdk_and_cli_resolve_a_workspace_name_the_same_way_and_say_where_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    for name in ("MLKUBE_WORKSPACE", "MLKUBE_TRACKING_URI", "MLKUBE_WORKSPACE_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLKUBE_WORKSPACES_DIR", str(tmp_path / "named"))
    monkeypatch.chdir(tmp_path)
    client = MLClient(DefaultAzureCredential(), "sub-id", "rg-seed", "mlw-seed")
    folder = tmp_path / "named" / "mlw-seed"
    assert client.workspace.root == folder
    assert not (tmp_path / "mlw-seed").exists()  # no stray ./<name> folder
    said = capsys.readouterr().err
    assert f"new workspace 'mlw-seed' in {folder}" in said
    assert "--workspace-name mlw-seed" in said
    client.computes.create_or_update(AmlCompute(name="cpu-cluster", max_instances=2))
    MLClient(workspace_name="mlw-seed")
    assert capsys.readouterr().err == ""  # said only when the workspace is new

    # The CLI, from another folder, finds the same workspace by the same name.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shown = subprocess.run(
        [sys.executable, "-m", "mlkube.cli.main", "--workspace-name", "mlw-seed", "compute",
         "show", "-n", "cpu-cluster", "-o", "json"], cwd=elsewhere, capture_output=True,
        text=True, env={**os.environ}, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["max_instances"] == 2
    described = subprocess.run(
        [sys.executable, "-m", "mlkube.cli.main", "workspace", "show", "-o", "json"],
        cwd=elsewhere, capture_output=True, text=True, timeout=120,
        env={**os.environ, "MLKUBE_WORKSPACE_NAME": "mlw-seed"})
    assert json.loads(described.stdout)["folder"] == str(folder)
    assert MLClient().workspace.root == tmp_path / ".mlkube"


def test_mlclient_creates_any_entity_by_its_type(sqlite_workspace: Workspace) -> None:
    client = MLClient(workspace=sqlite_workspace.root)
    name = unique("cluster")
    created = client.begin_create_or_update(
        AmlCompute(name=name, size="STANDARD_D2_V2", min_instances=0, max_instances=1)).result()
    assert isinstance(created, AmlCompute) and created.provisioning_state == "Succeeded"
    assert client.compute.get(name).size == "STANDARD_D2_V2"  # Azure's `compute` spelling
    updated = client.create_or_update(AmlCompute(name=name, max_instances=3))
    assert client.computes.get(name).max_instances == updated.max_instances == 3
    with pytest.raises(ValidationError, match="cannot create or update a dict"):
        client.create_or_update({"name": name})
    with pytest.raises(ConflictError, match="already exists and is an amlcompute compute"):
        client.computes.attach(KubernetesCompute(name=name, namespace="x"))


def test_from_config_reads_azure_config_json_from_a_parent_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MLKUBE_WORKSPACE", raising=False)
    monkeypatch.delenv("MLKUBE_TRACKING_URI", raising=False)
    (tmp_path / "config.json").write_text(json.dumps(
        {"subscription_id": "s", "resource_group": "rg", "workspace_name": "w",
         "workspace": "./team-ws"}))
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    client = MLClient.from_config(credential=DefaultAzureCredential())
    assert client.workspace.root == tmp_path / "team-ws"
    assert client.resource_group_name == "rg"


def test_from_config_without_a_file_says_what_to_write(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception) as caught:
        MLClient.from_config()
    assert "config.json" in str(caught.value) and "MLClient(" in str(caught.value)


def test_environments_group_is_the_environments_operations(sqlite_workspace: Workspace):
    client = MLClient(workspace=sqlite_workspace.root)
    assert type(client.environments).__name__ == "EnvironmentOperations"


def test_builtin_and_attached_computes(workspace: Workspace, tmp_path: Path):
    computes = MLClient(workspace=workspace.root).computes if workspace.location.embedded \
        else MLClient(workspace=workspace.root, tracking_uri=workspace.tracking_uri,
                      artifact_location=workspace.artifact_location).computes
    assert [c.name for c in computes.list()][:2] == ["local", "docker"]
    name = unique("k8s")
    cluster = KubernetesCompute(name=name, kubeconfig=str(tmp_path / "kubeconfig"),
                                context="prod", namespace="ml", registry="127.0.0.1:5000")
    attached = computes.begin_attach(cluster).result()
    assert (attached.namespace, attached.provisioning_state) == ("ml", "Succeeded")
    assert computes.attach(cluster).name == name  # the same settings again: no-op
    with pytest.raises(ConflictError):
        computes.attach(cluster.model_copy(update={"namespace": "other"}))
    got = computes.get(name)
    assert isinstance(got, KubernetesCompute) and got.context == "prod"
    computes.detach(name)
    with pytest.raises(ResourceNotFoundError) as caught:
        computes.get(name)
    assert "mlkube compute list" in caught.value.hint
    with pytest.raises(ValidationError):
        computes.detach("local")
