"""Model folders: MLmodel, flavor, signature and environment findings."""

import yaml

from mlkube.doctor import diagnose, has_errors


def codes(findings, severity=None):
    return {f.code for f in findings if severity is None or f.severity == severity}


def edit_mlmodel(folder, change):
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    change(mlmodel)
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))


def test_good_mlflow_model_folder_passes(iris_lgbm_model_root):
    findings = diagnose(iris_lgbm_model_root)
    assert not has_errors(findings), findings
    assert {"pyfunc-flavor", "signature", "environment-resolves",
            "python-available"} <= codes(findings, "info")
    signature = next(f for f in findings if f.code == "signature")
    assert "sepal_length: double" in signature.message


def test_folder_without_mlmodel_or_script_is_an_error_with_a_fix(tmp_path):
    (tmp_path / "model.pkl").write_bytes(b"\x80")
    [finding] = diagnose(tmp_path)
    assert (finding.code, finding.severity) == ("mlmodel-missing", "error")
    assert "MLmodel" in finding.fix


def test_unparseable_mlmodel_names_the_line(iris_copy):
    (iris_copy / "MLmodel").write_text("flavors:\n  python_function: [unclosed\n")
    findings = diagnose(iris_copy)
    [finding] = [f for f in findings if f.code == "mlmodel-unparseable"]
    assert "line" in finding.message and finding.fix


def test_model_without_pyfunc_flavor_is_an_error(iris_copy):
    edit_mlmodel(iris_copy, lambda m: m["flavors"].pop("python_function"))
    [finding] = [f for f in diagnose(iris_copy) if f.code == "no-pyfunc-flavor"]
    assert finding.severity == "error"
    assert "lightgbm" in finding.message and "scoring script" in finding.fix


def test_model_without_signature_is_a_warning_about_validation_and_swagger(iris_copy):
    edit_mlmodel(iris_copy, lambda m: m.pop("signature"))
    findings = diagnose(iris_copy)
    [finding] = [f for f in findings if f.code == "no-signature"]
    assert finding.severity == "warning"
    assert "not validated" in finding.message and "swagger" in finding.message
    assert "infer_signature" in finding.fix
    assert not has_errors(findings)


def test_windows_separators_in_mlmodel_are_an_error(iris_copy):
    edit_mlmodel(iris_copy, lambda m: m["flavors"]["python_function"].update(
        data="data\\model.lgb"))
    [finding] = [f for f in diagnose(iris_copy) if f.code == "windows-path"]
    assert "python_function.data: data\\model.lgb" in finding.message
    assert "'/'" in finding.fix


def test_conda_only_dependencies_in_the_models_conda_file_are_named(iris_copy):
    (iris_copy / "python_env.yaml").unlink()
    (iris_copy / "conda.yaml").write_text(
        "dependencies:\n  - python=3.11\n  - cudatoolkit=11.8\n  - mkl\n"
        "  - pip:\n    - mlflow\n")
    [finding] = [f for f in diagnose(iris_copy) if f.code == "conda-only-dependencies"]
    assert finding.severity == "error"
    assert "cudatoolkit=11.8, mkl" in finding.message and "image" in finding.fix


def test_python_version_missing_here_is_a_warning_for_local_deployments(iris_copy):
    (iris_copy / "python_env.yaml").write_text("python: 3.2.1\ndependencies:\n"
                                               "  - -r requirements.txt\n")
    findings = diagnose(iris_copy)
    [finding] = [f for f in findings if f.code == "python-unavailable"]
    assert finding.severity == "warning" and "Python 3.2" in finding.message
    assert "pyenv install 3.2" in finding.fix


def test_missing_environment_files_are_a_warning(iris_copy):
    for name in ("python_env.yaml", "conda.yaml", "requirements.txt"):
        (iris_copy / name).unlink()
    [finding] = [f for f in diagnose(iris_copy) if f.code == "environment-files-missing"]
    assert finding.severity == "warning" and "environment" in finding.fix


def test_unresolvable_requirements_file_is_an_error_naming_the_line(iris_copy):
    (iris_copy / "requirements.txt").write_text("mlflow\n-r missing-extra.txt\n")
    [finding] = [f for f in diagnose(iris_copy) if f.code == "environment-unresolvable"]
    assert "missing-extra.txt" in finding.message


def test_edited_conda_file_that_disagrees_with_python_env_is_named_with_the_file_used(
        iris_copy):
    # As Azure's guidance has users do: edit conda.yaml, not python_env.yaml.
    conda = yaml.safe_load((iris_copy / "conda.yaml").read_text())
    conda["dependencies"] = [
        "python=3.10", "cudatoolkit=11.8", "pip",
        {"pip": [*[line for line in conda["dependencies"][-1]["pip"]
                   if not line.startswith("pandas")],
                 "pandas==2.0.3", "azureml-inference-server-http"]}]
    (iris_copy / "conda.yaml").write_text(yaml.safe_dump(conda))
    [finding] = [f for f in diagnose(iris_copy) if f.code == "environment-files-disagree"]
    assert finding.severity == "warning"
    assert "python_env.yaml is used and conda.yaml differs from it" in finding.message
    assert "Python 3.10 in conda.yaml, 3.11 in python_env.yaml" in finding.message
    assert "azureml-inference-server-http only in conda.yaml" in finding.message
    assert "pandas==2.0.3 in conda.yaml, pandas==" in finding.message
    assert "conda-only packages in conda.yaml: cudatoolkit=11.8" in finding.message
    assert "delete python_env.yaml" in finding.fix


def test_environment_files_that_agree_say_nothing(iris_copy):
    assert "environment-files-disagree" not in codes(diagnose(iris_copy))
