"""The server's OpenAPI document agrees with the server: schemathesis, every check.

Schemathesis reads ``/swagger.json`` and sends what it describes (the example, boundary
cases, then generated bodies) and what it rules out (negated schemas, undeclared
methods), checking that valid requests score, invalid ones are refused with a 4xx, and
every answer has a documented status, content type, headers and body. Bounded by an
example count and a fixed seed, so a run is repeatable and takes seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
MAX_EXAMPLES = 40


def run_schemathesis(url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert SCHEMATHESIS, "schemathesis is in the dev extras: pip install -e '.[dev]'"
    return subprocess.run(
        [SCHEMATHESIS, "run", f"{url}/swagger.json", "--checks", "all",
         "--max-examples", str(MAX_EXAMPLES), "--seed", "20261201", "--workers", "1",
         "--generation-database", "none", "--no-color", "--request-timeout", "10"],
        capture_output=True, text=True, timeout=240, cwd=tmp_path)


@pytest.mark.parametrize("server", ["iris_server", "tensor_server"])
def test_schemathesis_finds_no_disagreement_with_the_document(server, request, tmp_path):
    url = request.getfixturevalue(server).url
    result = run_schemathesis(url, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
