"""Registering, fetching, listing and downloading models; interop with plain MLflow."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from mlkube.entities.model import Model
from mlkube.errors import (
    RequiredLocalArtifactsNotFoundError,
    ResourceNotFoundError,
    ValidationError,
)
from mlkube.workspace import Workspace
from tests import models
from tests.models import iris_frame
from tests.operations.test_jobs import client_for
from tests.workspace.backends import unique


@contextlib.contextmanager
def plain_mlflow_on(workspace: Workspace) -> Iterator[None]:
    """Point plain MLflow's global URIs at the workspace, as a user would."""
    previous_tracking, previous_registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(workspace.tracking_uri)
    mlflow.set_registry_uri(workspace.tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous_tracking)
        mlflow.set_registry_uri(previous_registry)


def test_local_folder_registers_with_auto_versions_latest_and_download(
        workspace: Workspace, iris_lgbm_model_root: Path, tmp_path: Path):
    client = client_for(workspace)
    name = unique("iris")
    folder = iris_lgbm_model_root / "model"
    v1 = client.models.create_or_update(Model(name=name, path=str(folder), type="mlflow_model",
                                              tags={"team": "seed"}, description="iris"))
    v2 = client.models.create_or_update(Model(name=name, path=str(folder), type="mlflow_model"))
    assert (v1.version, v2.version) == ("1", "2")
    assert client.models.get(name, version="1").tags == {"team": "seed"}
    assert client.models.get(name, label="latest").version == "2"
    assert [m.version for m in client.models.list(name)] == ["2", "1"]
    assert name in {m.name for m in client.models.list()}

    # Deleting the source folder loses nothing: the files were copied into the workspace.
    copy = tmp_path / "source copy"
    shutil.copytree(folder, copy / "model")
    v3 = client.models.create_or_update(Model(name=name, path=str(copy / "model"),
                                              type="mlflow_model"))
    shutil.rmtree(copy)
    target = client.models.download(name, v3.version, download_path=tmp_path / "a b" / "c d")
    assert target == tmp_path / "a b" / "c d" / name / "model"
    model = mlflow.pyfunc.load_model(str(target))
    X, _ = iris_frame()
    assert np.asarray(model.predict(X.head(3))).shape == (3, 3)


def test_folder_without_mlmodel_fails_naming_the_cause_and_the_nested_model(
        workspace: Workspace, iris_lgbm_model_root: Path):
    client = client_for(workspace)
    with pytest.raises(ValidationError) as caught:
        client.models.create_or_update(Model(name=unique("bad"), path=str(iris_lgbm_model_root),
                                             type="mlflow_model"))
    assert "has no MLmodel file" in caught.value.message
    assert str(iris_lgbm_model_root / "model") in caught.value.hint
    assert "custom_model" in caught.value.hint


def test_mlmodel_without_pyfunc_flavor_is_refused(workspace: Workspace, tmp_path: Path):
    (tmp_path / "MLmodel").write_text("flavors:\n  onnx:\n    onnx_version: 1.15\n")
    with pytest.raises(ValidationError) as caught:
        client_for(workspace).models.create_or_update(
            Model(name=unique("onnx"), path=str(tmp_path), type="mlflow_model"))
    assert "no python_function flavor" in caught.value.message


def test_custom_model_is_any_folder_and_keeps_its_folder_name(workspace: Workspace,
                                                              tmp_path: Path):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "w.bin").write_bytes(b"123")
    client = client_for(workspace)
    name = unique("custom")
    model = client.models.create_or_update(Model(name=name, path=str(folder)))
    assert model.type == "custom_model"
    target = client.models.download(name, model.version, download_path=tmp_path / "out")
    assert (target.name, (target / "w.bin").read_bytes()) == ("weights", b"123")


def test_missing_path_and_unknown_model_are_named(workspace: Workspace, tmp_path: Path):
    client = client_for(workspace)
    with pytest.raises(RequiredLocalArtifactsNotFoundError) as caught:
        client.models.create_or_update(Model(name="x", path=str(tmp_path / "nope")))
    assert str(tmp_path / "nope") in caught.value.message
    with pytest.raises(ResourceNotFoundError) as caught:
        client.models.get("no-such-model", label="latest")
    assert "'no-such-model'" in caught.value.message and "mlkube model list" in caught.value.hint


def test_models_registered_by_mlkube_are_plain_mlflow_model_versions(
        workspace: Workspace, iris_lgbm_model_root: Path):
    name = unique("iris")
    client_for(workspace).models.create_or_update(
        Model(name=name, path=str(iris_lgbm_model_root / "model"), type="mlflow_model"))
    plain = MlflowClient(tracking_uri=workspace.tracking_uri,
                         registry_uri=workspace.tracking_uri)
    assert plain.get_model_version(name, "1").name == name
    with plain_mlflow_on(workspace):
        model = mlflow.pyfunc.load_model(f"models:/{name}/1")
    X, _ = iris_frame()
    assert np.asarray(model.predict(X.head(2))).shape == (2, 3)


def test_models_registered_by_plain_mlflow_are_visible_to_mlkube(workspace: Workspace,
                                                                   tmp_path: Path):
    name = unique("tensor")
    with plain_mlflow_on(workspace):
        mlflow.set_experiment("plain-mlflow")
        with mlflow.start_run():
            # MLflow 3 logs this as a LoggedModel (models/<id>/artifacts), not a run artifact.
            mlflow.pyfunc.log_model(name="model", python_model=models._tensor_pyfunc_class()(),
                                    pip_requirements=["mlflow", "numpy"],
                                    registered_model_name=name)
    client = client_for(workspace)
    model = client.models.get(name, label="latest")
    assert (model.version, model.type) == ("1", "mlflow_model")
    target = client.models.download(name, "1", download_path=tmp_path)
    assert target == tmp_path / name / "model"
    loaded = mlflow.pyfunc.load_model(str(target))
    assert loaded.predict(np.array([[1, 2, 3]], dtype=np.float32)).tolist() == [6.0]


def test_run_uri_and_registry_uri_register_new_versions(workspace: Workspace,
                                                        iris_lgbm_model_root: Path):
    client = client_for(workspace)
    source = unique("iris")
    first = client.models.create_or_update(
        Model(name=source, path=str(iris_lgbm_model_root / "model"), type="mlflow_model"))
    run_id = workspace.registry.get(source, first.version).run_id
    copy = unique("copy")
    by_run = client.models.create_or_update(
        Model(name=copy, path=f"runs:/{run_id}/model", type="mlflow_model"))
    by_registry = client.models.create_or_update(
        Model(name=copy, path=f"models:/{source}/1", type="mlflow_model"))
    by_azure = client.models.create_or_update(
        Model(name=copy, path=f"azureml:{source}:1", type="mlflow_model"))
    assert [by_run.version, by_registry.version, by_azure.version] == ["1", "2", "3"]
