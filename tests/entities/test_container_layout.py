"""Every container target puts the model and code where Azure ML's layout says."""

from __future__ import annotations

import pytest

from mlkube.entities.code_configuration import CodeConfiguration
from mlkube.entities.container_layout import container_layout
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import ManagedOnlineDeployment


def test_seed_style_score_py_finds_its_model_under_model_dir_slash_model() -> None:
    # The seed's score.py loads AZUREML_MODEL_DIR + "/model": a folder named "model" must
    # appear inside the model dir under its own name.
    deployment = ManagedOnlineDeployment(
        name="blue", model=Model(path="/work/runs/model"),
        code_configuration=CodeConfiguration(code="/work/project/onlinescoring",
                                             scoring_script="score.py"))
    layout = container_layout(deployment)
    assert f"{layout.model_dir}/{layout.model_folder}" == (
        "/var/azureml-app/azureml-models/model/1/model")
    env = layout.environment()
    assert env["AML_APP_ROOT"] == "/var/azureml-app/onlinescoring"
    assert env["AZUREML_ENTRY_SCRIPT"] == "score.py"
    assert env["SERVER_PORT"] == "5001"


def test_scoring_script_in_a_subfolder_makes_that_folder_the_app_root() -> None:
    # As Azure ML's local endpoints do: AML_APP_ROOT is the script's folder.
    deployment = ManagedOnlineDeployment(
        name="blue", model="iris:2",
        code_configuration=CodeConfiguration(code="./src", scoring_script="scoring/score.py"))
    layout = container_layout(deployment)
    assert layout.code_dir == "/var/azureml-app/src"
    assert (layout.app_root, layout.entry_script) == ("/var/azureml-app/src/scoring", "score.py")


@pytest.mark.parametrize(("model", "model_dir", "folder"), [
    ("azureml:iris-lgbm:3", "/var/azureml-app/azureml-models/iris-lgbm/3", None),
    (Model(name="iris", version="7", path="/tmp/x/model", type="mlflow_model"),
     "/var/azureml-app/azureml-models/iris/7", "model"),
    ("runs:/abc123/model", "/var/azureml-app/azureml-models/model/1", "model"),
    ("/data/My Model", "/var/azureml-app/azureml-models/My Model/1", "My Model"),
])
def test_model_placement_follows_name_version_and_folder(model, model_dir, folder) -> None:
    layout = container_layout(ManagedOnlineDeployment(name="blue", model=model))
    assert (layout.model_dir, layout.model_folder) == (model_dir, folder)
    env = layout.environment()
    assert env["AZUREML_MODEL_DIR"] == model_dir
    assert "AZUREML_ENTRY_SCRIPT" not in env
    assert env["AML_APP_ROOT"] == "/var/azureml-app"
