from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlkube.workspace import Workspace
from tests.workspace.backends import BACKENDS, workspace_for


@pytest.fixture(scope="session", params=BACKENDS)
def workspace(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The session's workspace, once on SQLite and once on PostgreSQL."""
    return workspace_for(request.param, tmp_path_factory, request.session.config.add_cleanup)


@pytest.fixture(scope="session")
def sqlite_workspace(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The session's SQLite workspace, for tests that are the same on every backend."""
    return workspace_for("sqlite", tmp_path_factory, request.session.config.add_cleanup)


@pytest.fixture(scope="session", autouse=True)
def training_jobs(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The seed's training script as a command job, one per backend, submitted as the
    operations tests start: they train in the background while the other tests run."""
    from mlkube.operations.jobs import JobOperations
    from tests.operations.jobs import submit_seed_training

    workspaces = {backend: workspace_for(backend, tmp_path_factory,
                                         request.session.config.add_cleanup)
                  for backend in BACKENDS}
    jobs = {backend: submit_seed_training(ws) for backend, ws in workspaces.items()}
    yield jobs
    # A partial run (-k, -x) may not wait for them: leave no process behind.
    for backend, name in jobs.items():
        JobOperations(workspaces[backend]).cancel(name)
