"""Concurrent processes on one workspace: distinct versions, no "database is locked"."""

from __future__ import annotations

import json
from pathlib import Path

from mlkube.workspace import Workspace
from tests.workspace.backends import run_python, unique, workspace_env

# Each process registers a model version and creates a record version of the same names.
_REGISTER = """
import json, sys
from pathlib import Path
from mlkube.entities.model import Model
from mlkube.operations.client import MLClient
client = MLClient()
model = client.models.create_or_update(
    Model(name=sys.argv[1], path=sys.argv[2], type="custom_model"))
record = client.workspace.records("environments").create(sys.argv[1], {"by": sys.argv[3]})
print(json.dumps({"model": model.version, "record": record.version}))
"""

PROCESSES = 2


def test_processes_registering_at_once_get_distinct_versions(workspace: Workspace,
                                                             tmp_path: Path):
    # On SQLite, a folder no process has opened yet: the processes also race to create the
    # tables. On PostgreSQL, the session's shared database.
    target = (Workspace.open(workspace=tmp_path / "fresh" / ".mlkube")
              if workspace.location.embedded else workspace)
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\x00" * 1024)
    name = unique("concurrent")
    processes = [
        run_python(_REGISTER.replace("sys.argv[1]", repr(name))
                   .replace("sys.argv[2]", repr(str(folder)))
                   .replace("sys.argv[3]", repr(str(i))),
                   env=workspace_env(target))
        for i in range(PROCESSES)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err[-2000:]
        assert "database is locked" not in err
        results.append(json.loads(out.strip().splitlines()[-1]))
    expected = [str(i) for i in range(1, PROCESSES + 1)]
    assert sorted(r["model"] for r in results) == expected
    assert sorted(r["record"] for r in results) == expected
    # The store is whole: every version is readable afterwards.
    assert [m.version for m in target.registry.versions(name)] == expected
    assert {r.spec["by"] for r in target.records("environments").list(name)} == {
        str(i) for i in range(PROCESSES)}


# Each process loads everything, waits at a file barrier until all are loaded (so their
# checks of the requested version overlap, as `model create -v` runs started together do),
# then registers that version and prints what happened.
_EXPLICIT = """
import json, sys, time
from pathlib import Path
from mlkube.entities.model import Model
from mlkube.errors import MlkubeError
from mlkube.operations.client import MLClient
name, folder, barrier, index, count = sys.argv[1:6]
client = MLClient()
client.workspace.client  # the store opened before the barrier
Path(barrier, index).touch()
deadline = time.monotonic() + 120
while len(list(Path(barrier).iterdir())) < int(count) and time.monotonic() < deadline:
    time.sleep(0.005)
try:
    model = client.models.create_or_update(
        Model(name=name, version="2", path=folder, type="custom_model"))
except MlkubeError as error:
    print(json.dumps({"error": type(error).__name__, "message": error.message}))
else:
    print(json.dumps({"version": model.version}))
"""

EXPLICIT = 4


def test_concurrent_creates_of_one_explicit_version_let_exactly_one_succeed(
        workspace: Workspace, tmp_path: Path):
    # Four registrations of version 2 at once, with version 1 already there: before the
    # version was checked under the registration lock, several succeeded and all but
    # one of them silently got a later version.
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\x00" * 1024)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    name = unique("explicit")
    workspace.registry.register(name, source=str(folder))
    code = "import sys; sys.argv[1:] = " + repr([name, str(folder), str(barrier)])
    processes = [run_python(code + f" + [{str(i)!r}, {str(EXPLICIT)!r}]\n" + _EXPLICIT,
                            env=workspace_env(workspace))
                 for i in range(EXPLICIT)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(map(str, results)).count(str({"version": "2"})) == 1, results
    refused = [r for r in results if "error" in r]
    assert len(refused) == EXPLICIT - 1, results
    for result in refused:
        assert result["error"] == "ConflictError", result
        assert "version 2 already exists" in result["message"], result
    assert [m.version for m in workspace.registry.versions(name)] == ["1", "2"]
