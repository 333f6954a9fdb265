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
