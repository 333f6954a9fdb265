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
