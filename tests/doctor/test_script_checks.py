"""Entry scripts: imported in a child process with a timeout; the seed's pitfalls."""

import shutil
import time

import pytest

from mlkube.doctor import diagnose, has_errors
from mlkube.doctor.environment_checks import check_environment_file
from tests.doctor.conftest import write
from tests.models import SEED_SCORE_PY, YAML_DIR

GOOD = """
    import json

    def init():
        global scale
        scale = 2

    def run(raw_data, request_headers=None):
        return [x * scale for x in json.loads(raw_data)["data"]]
"""


def only(findings, code):
    matches = [f for f in findings if f.code == code]
    assert len(matches) == 1, findings
    return matches[0]


def test_good_script_folder_passes(tmp_path):
    write(tmp_path / "score.py", GOOD)
    write(tmp_path / "requirements.txt", "six\n")
    findings = diagnose(tmp_path)
    assert not has_errors(findings), findings
    assert only(findings, "run-signature").message.endswith("run(raw_data, request_headers).")
    assert only(findings, "inference-server-added").severity == "info"


def test_script_that_fails_to_import_names_the_error_and_line(tmp_path):
    write(tmp_path / "score.py", "import json\nimport not_installed_module_xyz\n\n"
          "def init():\n    pass\n\ndef run(data):\n    return data\n")
    finding = only(diagnose(tmp_path), "script-import-failed")
    assert "line 2" in finding.message
    assert "ModuleNotFoundError: No module named 'not_installed_module_xyz'" in finding.message
    assert "requirements.txt" in finding.fix


def test_script_that_exits_at_import_does_not_take_the_doctor_down(tmp_path):
    write(tmp_path / "score.py", "import os\nprint('bye')\nos._exit(3)\n")
    findings = diagnose(tmp_path)
    finding = only(findings, "script-import-failed")
    assert "bye" in finding.message
    assert {"script-missing-init", "script-missing-run"} <= {f.code for f in findings}


def test_script_that_hangs_at_import_times_out(tmp_path):
    write(tmp_path / "score.py", "import time\ntime.sleep(120)\n")
    started = time.monotonic()
    finding = only(diagnose(tmp_path, timeout=2), "script-import-timeout")
    assert time.monotonic() - started < 20
    assert "init()" in finding.fix


def test_script_without_run_is_an_error(tmp_path):
    write(tmp_path / "score.py", "def init():\n    pass\n")
    finding = only(diagnose(tmp_path), "script-missing-run")
    assert finding.severity == "error" and "run(raw_data)" in finding.fix


@pytest.mark.parametrize(("signature", "problem"), [
    ("def run():", "takes no positional parameter"),
    ("def run(data, threshold):", "requires threshold"),
])
def test_run_parameter_list_the_server_cannot_call_is_an_error(tmp_path, signature, problem):
    write(tmp_path / "score.py", f"def init():\n    pass\n\n{signature}\n    return 1\n")
    finding = only(diagnose(tmp_path), "run-signature")
    assert finding.severity == "error" and problem in finding.message


def test_syntax_error_names_the_line(tmp_path):
    write(tmp_path / "score.py", "def init(:\n    pass\n")
    finding = only(diagnose(tmp_path), "script-syntax-error")
    assert "line 1" in finding.message


def test_seed_script_with_a_model_folder_of_another_name_is_caught(iris_lgbm_model_root,
                                                                   tmp_path):
    shutil.copy(SEED_SCORE_PY, tmp_path / "score.py")
    shutil.copytree(iris_lgbm_model_root / "model", tmp_path / "iris_model")
    findings = diagnose(tmp_path)
    finding = only(findings, "model-dir-subfolder")
    assert finding.severity == "error"
    assert "$AZUREML_MODEL_DIR/model" in finding.message and "'iris_model'" in finding.message
    assert "os.path.join(os.environ['AZUREML_MODEL_DIR'], 'iris_model')" in finding.fix
    assert "script-imports" in {f.code for f in findings}  # the seed imports fine here


@pytest.mark.parametrize("expression", [
    "os.path.join(os.getenv('AZUREML_MODEL_DIR'), 'model')",
    "Path(os.environ['AZUREML_MODEL_DIR']) / 'model' / 'model.lgb'",
    "f\"{os.getenv('AZUREML_MODEL_DIR')}/model\"",
])
def test_every_spelling_of_the_model_subfolder_is_checked(tmp_path, iris_lgbm_model_root,
                                                          expression):
    write(tmp_path / "score.py", f"import os\nfrom pathlib import Path\n\n"
          f"def init():\n    return {expression}\n\ndef run(data):\n    return data\n")
    shutil.copytree(iris_lgbm_model_root / "model", tmp_path / "trained")
    finding = only(diagnose(tmp_path), "model-dir-subfolder")
    assert "'trained'" in finding.message


def test_seed_conda_file_resolves_with_a_note_that_mlkube_adds_its_server():
    findings = check_environment_file(YAML_DIR / "conda.yaml")
    assert not has_errors(findings), findings
    assert only(findings, "inference-server-added").severity == "info"
    assert "Python 3.11" in only(findings, "environment-resolves").message


def test_windows_path_literals_in_the_script_are_a_warning(tmp_path):
    write(tmp_path / "score.py", "PATH = r'outputs\\model.pkl'\n\ndef init():\n    pass\n\n"
          "def run(data):\n    return data\n")
    finding = only(diagnose(tmp_path), "windows-path")
    assert finding.severity == "warning" and "outputs\\model.pkl" in finding.message


def test_azure_server_added_by_hand_is_noted_as_replaced(tmp_path):
    write(tmp_path / "score.py", GOOD)
    write(tmp_path / "conda.yaml", """
        dependencies:
          - python=3.11
          - pip:
            - azureml-inference-server-http
    """)
    assert only(diagnose(tmp_path), "inference-server-replaced").severity == "info"
