"""A process killed mid-write loses nothing already registered, and the store stays usable."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import time
from pathlib import Path

from mlkube.workspace import Workspace
from tests.workspace.backends import run_python, unique, workspace_env

_REGISTER_FOREVER = """
from mlkube.entities.model import Model
from mlkube.operations.client import MLClient
client = MLClient()
while True:
    client.models.create_or_update(Model(name=NAME, path=PATH, type="custom_model"))
"""


def test_killed_writer_loses_no_registered_version(workspace: Workspace, tmp_path: Path):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "w.bin").write_bytes(b"w" * 4096)
    name = unique("crash")
    writer = run_python(_REGISTER_FOREVER.replace("NAME", repr(name))
                        .replace("PATH", repr(str(folder))), env=workspace_env(workspace))
    try:
        deadline = time.monotonic() + 180
        while len(workspace.registry.versions(name)) < 3:
            assert writer.poll() is None, writer.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the writer registered nothing"
            time.sleep(0.05)
        writer.send_signal(signal.SIGKILL)  # no cleanup, wherever it is
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.communicate()

    versions = workspace.registry.versions(name)
    assert [v.version for v in versions] == [str(i) for i in range(1, len(versions) + 1)]
    for version in versions:  # every registered version is whole
        target = workspace.registry.download(name, version.version,
                                             tmp_path / "check" / version.version)
        assert (target / "w.bin").read_bytes() == b"w" * 4096
    if workspace.location.embedded:
        database = workspace.root / "mlflow.db"
        with contextlib.closing(sqlite3.connect(database)) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # The store takes the next write without complaint.
    assert workspace.registry.latest(name).version == versions[-1].version
