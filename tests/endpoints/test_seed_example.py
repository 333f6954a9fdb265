"""The seed's Azure-ML-style deployment script runs against mlkube unchanged but for
its imports (CI runs it here; it is started by the ``seed_example_run`` fixture)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def test_seed_deploy_local_script_creates_invokes_and_deletes_an_endpoint(
    seed_example_run: subprocess.Popen[str], endpoint_workspace: Path,
    expected_prediction: list[list[float]],
) -> None:
    stdout, stderr = seed_example_run.communicate(timeout=600)
    assert seed_example_run.returncode == 0, stderr[-3000:]
    assert "Scoring URI: http://127.0.0.1:" in stdout
    response = next(line for line in stdout.splitlines() if line.startswith("Response:"))
    first_row = [float(v) for v in response.split("[[", 1)[1].split("]]", 1)[0].split(",")]
    assert first_row == pytest.approx(expected_prediction[0])
    assert "Ready to score (entry-script mode" in stdout  # the log came back too
    assert "Deleted local-" in stdout
    assert not any((endpoint_workspace / "endpoints").glob("local-*"))
