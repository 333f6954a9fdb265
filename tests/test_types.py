"""mlkube's annotations hold: mypy checks src/ with the settings in pyproject.toml.

Without this run the annotations (and every ``type: ignore``) would be unchecked
promises; ``warn_unused_ignores`` makes a stale ignore fail here too.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# A cold run (no .mypy_cache) takes minutes on a busy two-core machine.
@pytest.mark.timeout(1200)
def test_mypy_finds_no_type_errors_in_src():
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
