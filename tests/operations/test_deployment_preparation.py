"""What preparing a deployment says about its model's environment before anything runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from mlkube.entities.model import Model
from mlkube.entities.online_deployment import ManagedOnlineDeployment
from mlkube.operations.deployment_preparation import prepare_deployment


def test_deployment_says_which_model_environment_file_it_uses_when_they_disagree(
        iris_lgbm_model_root: Path, tmp_path: Path) -> None:
    model = Path(shutil.copytree(iris_lgbm_model_root / "model", tmp_path / "model"))
    conda = yaml.safe_load((model / "conda.yaml").read_text())
    conda["dependencies"][-1]["pip"].append("azureml-inference-server-http")
    (model / "conda.yaml").write_text(yaml.safe_dump(conda))
    lines: list[str] = []
    _, prepared = prepare_deployment(
        ManagedOnlineDeployment(name="blue", endpoint_name="iris", model=Model(path=str(model))),
        cache_dir=tmp_path / "cache", progress=lines.append)
    [warning] = [line for line in lines if "differs" in line]
    assert ("python_env.yaml is used and conda.yaml differs from it: "
            "azureml-inference-server-http only in conda.yaml") in warning
    assert warning in prepared.notes  # kept in the storage-initializer log too
