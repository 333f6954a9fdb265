"""MLClient: Azure ML's constructor and config file, the native forms, and computes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlkube.entities.compute import KubernetesCompute
from mlkube.errors import ConflictError, ResourceNotFoundError, ValidationError
from mlkube.operations.client import DefaultAzureCredential, MLClient
from mlkube.workspace import Workspace
from tests.workspace.backends import unique


def test_azure_constructor_is_accepted_and_names_the_workspace_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLKUBE_WORKSPACE", raising=False)
    monkeypatch.delenv("MLKUBE_TRACKING_URI", raising=False)
    client = MLClient(DefaultAzureCredential(), "sub-id", "rg-seed", "mlw-seed")
    assert client.workspace.root == tmp_path / "mlw-seed"
    assert client.tracking_uri == f"sqlite:///{tmp_path}/mlw-seed/mlflow.db"
    assert MLClient().workspace.root == tmp_path / ".mlkube"


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
