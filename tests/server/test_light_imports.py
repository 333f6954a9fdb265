"""The server is installed into every model's environment: starting it in entry-script
mode must not import the control plane or anything heavy the script does not need."""

from __future__ import annotations

import subprocess
import sys

from tests.server.conftest import SCRIPTS

PROBE = """
import sys
from mlkube.server.runner import build_app
from mlkube.server.settings import ServerSettings
build_app(ServerSettings(entry_script=sys.argv[1]))
heavy = ["numpy", "pandas", "mlflow", "pydantic", "httpx", "starlette", "mlkube.operations",
         "mlkube.targets", "mlkube.workspace", "mlkube.entities.base"]
print(",".join(m for m in heavy if m in sys.modules))
"""


def test_entry_script_server_starts_without_heavy_imports():
    result = subprocess.run([sys.executable, "-c", PROBE, str(SCRIPTS / "pid.py")],
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == ""
