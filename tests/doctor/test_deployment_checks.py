"""Deployment YAMLs: every path checked, types matched to folders, parts checked."""

import shutil

from mlkube.doctor import diagnose, has_errors
from tests.doctor.conftest import write
from tests.doctor.test_script_checks import GOOD


def by_code(findings, code):
    return [f for f in findings if f.code == code]


def deployment(tmp_path, body):
    return write(tmp_path / "deployment.yml", "$schema: https://azuremlschemas.azureedge.net/"
                 "latest/managedOnlineDeployment.schema.json\nname: blue\nendpoint_name: iris\n"
                 + body)


def test_good_mlflow_deployment_passes_and_checks_the_model(tmp_path, iris_lgbm_model_root):
    shutil.copytree(iris_lgbm_model_root / "model", tmp_path / "model")
    findings = diagnose(deployment(tmp_path, "model:\n  path: ./model\n  type: mlflow_model\n"
                                   "instance_count: 1\n"))
    assert not has_errors(findings), findings
    assert by_code(findings, "pyfunc-flavor") and by_code(findings, "environment-resolves")


def test_missing_model_code_and_conda_paths_are_each_named(tmp_path):
    (tmp_path / "src").mkdir()
    findings = diagnose(deployment(tmp_path, """\
model:
  path: ./missing-model
code_configuration:
  code: ./src
  scoring_script: score.py
environment:
  image: python:3.11-slim
  conda_file: ./env/conda.yaml
"""))
    missing = by_code(findings, "deployment-path-missing")
    fields = sorted(f.message.split(": ")[1].split(" is ")[0] for f in missing)
    assert fields == ["code_configuration.scoring_script", "environment.conda_file", "model.path"]
    assert all("relative to the YAML file" in f.fix for f in missing)


def test_mlflow_model_type_on_a_folder_without_mlmodel_points_at_the_subfolder(
        tmp_path, iris_lgbm_model_root):
    shutil.copytree(iris_lgbm_model_root / "model", tmp_path / "outputs" / "model")
    findings = diagnose(deployment(tmp_path, "model:\n  path: ./outputs\n  type: mlflow_model\n"))
    [finding] = by_code(findings, "mlflow-model-without-mlmodel")
    assert finding.severity == "error"
    assert str(tmp_path / "outputs" / "model") in finding.fix


def test_windows_separators_in_yaml_paths_are_an_error(tmp_path):
    write(tmp_path / "src" / "score.py", GOOD)
    findings = diagnose(deployment(tmp_path, """\
model: azureml:iris:1
code_configuration:
  code: src
  scoring_script: .\\\\score.py
"""))
    [finding] = by_code(findings, "windows-path")
    assert "code_configuration.scoring_script" in finding.message
    assert by_code(findings, "registered-model")


def test_custom_model_without_a_scoring_script_is_an_error(tmp_path):
    (tmp_path / "files").mkdir()
    findings = diagnose(deployment(tmp_path, "model:\n  path: files\n  type: custom_model\n"))
    [finding] = by_code(findings, "scoring-script-required")
    assert "code_configuration" in finding.fix


def test_script_is_checked_against_the_deployments_model_folder_name(tmp_path,
                                                                     iris_lgbm_model_root):
    shutil.copytree(iris_lgbm_model_root / "model", tmp_path / "iris-model")
    write(tmp_path / "src" / "score.py", """
        import os

        def init():
            global path
            path = os.getenv("AZUREML_MODEL_DIR") + "/model"

        def run(data):
            return path
    """)
    findings = diagnose(deployment(tmp_path, """\
model:
  path: iris-model
  type: mlflow_model
code_configuration:
  code: src
  scoring_script: score.py
"""))
    [finding] = by_code(findings, "model-dir-subfolder")
    assert finding.severity == "error" and "'iris-model'" in finding.message


def test_spec_rule_violations_are_reported_with_the_path_findings(tmp_path):
    findings = diagnose(deployment(tmp_path, "model:\n  path: ./nope\ninstance_count: 0\n"))
    assert by_code(findings, "deployment-invalid") and by_code(findings, "deployment-path-missing")
    assert "instance_count" in by_code(findings, "deployment-invalid")[0].message


def test_unreadable_yaml_is_one_finding(tmp_path):
    path = write(tmp_path / "d.yml", "name: [blue\n")
    [finding] = diagnose(path)
    assert finding.code == "deployment-yaml-invalid" and "line" in finding.message
