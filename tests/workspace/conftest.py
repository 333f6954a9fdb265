from __future__ import annotations

import pytest

from mlkube.workspace import Workspace
from tests.workspace.backends import BACKENDS, workspace_for


@pytest.fixture(scope="session", params=BACKENDS)
def workspace(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The session's workspace, once on SQLite and once on PostgreSQL."""
    return workspace_for(request.param, tmp_path_factory, request.session.config.add_cleanup)
