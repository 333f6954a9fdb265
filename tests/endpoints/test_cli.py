"""The `mlkube online-endpoint` / `online-deployment` commands, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.endpoints.scoring import score
from tests.models import SAMPLE_REQUEST, YAML_DIR

ENDPOINT = "cli-e2e"


def mlkube(*args: str, workspace: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "mlkube.cli.main", *args],
        env={**os.environ, "MLKUBE_WORKSPACE": str(workspace)},
        capture_output=True, text=True, timeout=300, check=False)
    if check:
        assert result.returncode == 0, f"mlkube {' '.join(args)}:\n{result.stderr}"
    return result


def test_cli_creates_invokes_shows_and_deletes_a_local_endpoint(
    endpoint_workspace: Path, iris_lgbm_model_root: Path, expected_prediction: list[list[float]],
) -> None:
    ws = endpoint_workspace
    created = json.loads(mlkube("online-endpoint", "create", "-f", str(YAML_DIR / "endpoint.yml"),
                                "--name", ENDPOINT, "--local", "-o", "json", workspace=ws).stdout)
    assert created["scoring_uri"].startswith("http://127.0.0.1:")
    try:
        deployed = mlkube(
            "online-deployment", "create", "-f", str(YAML_DIR / "deployment.yml"),
            "--endpoint-name", ENDPOINT, "--set", f"model.path={iris_lgbm_model_root / 'model'}",
            "--all-traffic", "--local", "-o", "json", workspace=ws)
        assert json.loads(deployed.stdout)["provisioning_state"] == "Succeeded"
        assert "starting 1 instance(s) of blue" in deployed.stderr  # progress is shown
        assert "ready" in deployed.stderr
        # deployment.yml names Standard_DS3_v2, as Azure's samples do: a local endpoint
        # says the size is not enforced, at create and in what it shows.
        assert ("instance type Standard_DS3_v2 (4 vCPUs, 14Gi memory) is not enforced"
                in deployed.stderr)
        shown_deployment = json.loads(mlkube("online-deployment", "show", "-n", "blue", "-e",
                                             ENDPOINT, "-o", "json", workspace=ws).stdout)
        assert shown_deployment["instance_resources"]["memory"] == "14Gi"
        assert shown_deployment["instance_resources"]["applied"].startswith("not enforced")

        answer = mlkube("online-endpoint", "invoke", "-n", ENDPOINT, "--request-file",
                        str(SAMPLE_REQUEST), workspace=ws).stdout
        assert json.loads(answer)[0] == pytest.approx(expected_prediction[0])

        shown = json.loads(mlkube("online-endpoint", "show", "-n", ENDPOINT, "-o", "json",
                                  workspace=ws).stdout)
        assert shown["traffic"] == {"blue": 100}
        assert "key" not in json.dumps(shown).replace('"auth_mode": "key"', "")

        credentials = json.loads(mlkube("online-endpoint", "get-credentials", "-n", ENDPOINT,
                                        "-o", "json", workspace=ws).stdout)
        with httpx.Client(timeout=30, trust_env=False) as http:
            assert score(http, created["scoring_uri"], credentials["primaryKey"]).status_code \
                == 200

        listed = mlkube("online-deployment", "list", "-e", ENDPOINT, workspace=ws).stdout
        assert "blue" in listed and "Succeeded" in listed
        logs = mlkube("online-deployment", "get-logs", "-n", "blue", "-e", ENDPOINT,
                      "--lines", "50", workspace=ws).stdout
        assert "Ready to score" in logs
        assert credentials["primaryKey"] not in logs
    finally:
        mlkube("online-endpoint", "delete", "-n", ENDPOINT, "--yes", workspace=ws)
    gone = mlkube("online-endpoint", "show", "-n", ENDPOINT, workspace=ws, check=False)
    assert gone.returncode == 1
    assert "does not exist" in gone.stderr and "Traceback" not in gone.stderr


def test_cli_reports_a_missing_endpoint_with_a_hint_not_a_traceback(
    endpoint_workspace: Path,
) -> None:
    result = mlkube("online-deployment", "create", "-f", str(YAML_DIR / "deployment.yml"),
                    "--endpoint-name", "no-such-endpoint", workspace=endpoint_workspace,
                    check=False)
    assert result.returncode == 1
    assert "no-such-endpoint does not exist" in result.stderr
    assert "Hint:" in result.stderr and "Traceback" not in result.stderr


def test_cli_refuses_a_mistyped_instance_type_with_a_did_you_mean(
    endpoint_workspace: Path,
) -> None:
    result = mlkube("online-deployment", "create", "-f", str(YAML_DIR / "deployment.yml"),
                    "--endpoint-name", "no-such-endpoint", "--set",
                    "instance_type=Standard_DS3_v3", workspace=endpoint_workspace, check=False)
    assert result.returncode == 1
    assert "instance_type: instance type 'Standard_DS3_v3' is not an Azure VM size" \
        in result.stderr
    assert "did you mean Standard_DS3_v2" in result.stderr
    assert "Traceback" not in result.stderr
