"""`mlkube doctor` as users run it: a readable list, JSON, and the exit code."""

import json
import subprocess
import sys

from tests.doctor.conftest import write


def doctor(*args):
    return subprocess.run([sys.executable, "-m", "mlkube.cli.main", "doctor", *args],
                          capture_output=True, text=True, timeout=120)


def test_errors_are_listed_with_their_fix_and_exit_non_zero(tmp_path):
    write(tmp_path / "score.py", "def init():\n    pass\n")
    result = doctor(str(tmp_path))
    assert result.returncode == 1
    assert "ERROR [script-missing-run]" in result.stdout
    assert "fix: Define run() at module level" in result.stdout
    assert "1 error(s)" in result.stdout


def test_clean_folder_exits_zero_and_json_lists_every_finding(tmp_path):
    write(tmp_path / "score.py", "def init():\n    pass\n\ndef run(raw_data):\n    return 1\n")
    result = doctor(str(tmp_path), "--output", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["counts"]["error"] == 0
    assert {"code", "severity", "message", "fix"} <= set(report["findings"][0])


def test_missing_path_is_an_error_not_a_traceback(tmp_path):
    result = doctor(str(tmp_path / "nope"))
    assert result.returncode == 1
    assert "[path-missing]" in result.stdout and "Traceback" not in result.stderr


def test_a_registered_model_missing_from_the_workspace_is_an_error(tmp_path,
                                                                  iris_lgbm_model_root):
    workspace = tmp_path / "ws"
    registered = subprocess.run(
        [sys.executable, "-m", "mlkube.cli.main", "model", "create", "-n", "iris", "-p",
         str(iris_lgbm_model_root / "model"), "-t", "mlflow_model", "-w", str(workspace)],
        capture_output=True, text=True, timeout=120)
    assert registered.returncode == 0, registered.stderr
    spec = write(tmp_path / "deployment.yml", "name: blue\nendpoint_name: iris\n"
                 "model: azureml:nosuch:3\n")
    result = doctor(str(spec), "-w", str(workspace))
    assert result.returncode == 1
    assert "ERROR [registered-model-missing]" in result.stdout
    assert "azureml:nosuch:3, which is not in the workspace" in result.stdout
    write(spec, "name: blue\nendpoint_name: iris\nmodel: azureml:iris@latest\n")
    found = doctor(str(spec), "-w", str(workspace))
    assert "registered (version 1)" in found.stdout, found.stdout


def test_an_endpoint_yaml_is_checked_as_an_endpoint(tmp_path):
    spec = write(tmp_path / "endpoint.yml", "$schema: https://azuremlschemas.azureedge.net/"
                 "latest/managedOnlineEndpoint.schema.json\nname: iris\nauth_mode: key\n"
                 "traffic:\n  blue: 90\n  green: 10\n")
    result = doctor(str(spec))
    assert result.returncode == 0, result.stdout
    assert "unknown" not in result.stdout and "not a known field" not in result.stdout
    assert "[endpoint-traffic]" in result.stdout and "blue 90 %, green 10 %" in result.stdout
    write(spec, "name: iris\nauth_mode: key\ntraffic:\n  blue: 90\n  green: 20\n")
    broken = doctor(str(spec))
    assert broken.returncode == 1
    assert "ERROR [endpoint-invalid]" in broken.stdout and "adds up to 110" in broken.stdout
    write(spec, "name: iris\nauth_mode: key\n")
    assert "WARN  [endpoint-no-traffic]" in doctor(str(spec)).stdout


def test_autoscaling_and_scale_to_zero_settings_are_explained(tmp_path):
    spec = write(tmp_path / "deployment.yml", "name: blue\nendpoint_name: iris\n"
                 "model: azureml:iris:1\ninstance_count: 2\nscale_settings:\n"
                 "  type: target_utilization\n  min_instances: 1\n  max_instances: 4\n")
    result = doctor(str(spec))
    assert "[autoscale]" in result.stdout and "requests in flight" in result.stdout
    assert "autoscale-not-applied-locally" not in result.stdout
    assert "[scale-to-zero]" not in result.stdout
    write(spec, "name: blue\nendpoint_name: iris\nmodel: azureml:iris:1\nscale_settings:\n"
          "  type: target_utilization\n  min_instances: 0\n  max_instances: 4\n"
          "  scale_to_zero_after_s: 30\n")
    zero = doctor(str(spec))
    assert "[scale-to-zero]" in zero.stdout and "request_timeout_ms" in zero.stdout
    assert "deployment-invalid" not in zero.stdout
    write(spec, "name: blue\nendpoint_name: iris\nmodel: azureml:iris:1\nscale_settings:\n"
          "  type: target_utilization\n  min_instances: 1\n  scale_to_zero_after_s: 30\n")
    refused = doctor(str(spec))
    assert "ERROR [deployment-invalid]" in refused.stdout
    assert "set min_instances: 0" in refused.stdout
