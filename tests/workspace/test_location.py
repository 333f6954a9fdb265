"""Where the workspace is: the embedded folder by default, a shared tracking URI on request."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlkube.errors import ValidationError
from mlkube.workspace.location import locate_workspace, redact_uri


def test_default_workspace_is_dot_mlkube_with_sqlite_store_and_artifacts(tmp_path: Path):
    location = locate_workspace(env={}, cwd=tmp_path)
    assert location.root == tmp_path / ".mlkube"
    assert location.tracking_uri == f"sqlite:///{tmp_path}/.mlkube/mlflow.db"
    assert location.artifact_location == str(tmp_path / ".mlkube" / "artifacts")
    assert location.embedded


def test_workspace_argument_beats_environment_variable(tmp_path: Path):
    env = {"MLKUBE_WORKSPACE": str(tmp_path / "from-env")}
    assert locate_workspace(env=env, cwd=tmp_path).root == tmp_path / "from-env"
    explicit = locate_workspace(workspace="mine", env=env, cwd=tmp_path)
    assert explicit.root == tmp_path / "mine"


def test_azure_workspace_name_names_the_folder_when_nothing_else_does(tmp_path: Path):
    assert locate_workspace(workspace_name="mlw-seed", env={}, cwd=tmp_path).root == \
        tmp_path / "mlw-seed"


def test_tracking_uri_from_environment_makes_a_shared_workspace(tmp_path: Path):
    env = {"MLKUBE_TRACKING_URI": "postgresql://u:secret@db:5432/ml",
           "MLKUBE_ARTIFACT_LOCATION": "/shared/artifacts"}
    location = locate_workspace(env=env, cwd=tmp_path)
    assert location.tracking_uri == "postgresql://u:secret@db:5432/ml"
    assert location.artifact_location == "/shared/artifacts"
    assert not location.embedded


def test_tracking_server_manages_its_own_artifacts(tmp_path: Path):
    location = locate_workspace(tracking_uri="http://127.0.0.1:5000", env={}, cwd=tmp_path)
    assert location.artifact_location is None


def test_unknown_tracking_uri_scheme_is_refused_with_the_schemes_that_work(tmp_path: Path):
    with pytest.raises(ValidationError) as caught:
        locate_workspace(tracking_uri="ftp://u:pw@host/x", env={}, cwd=tmp_path)
    assert "'ftp'" in caught.value.message
    assert "pw" not in str(caught.value)
    assert "postgresql://" in caught.value.hint


def test_password_is_redacted_for_display():
    assert redact_uri("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_uri("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_unreachable_database_fails_fast_with_the_fix_and_no_password(tmp_path: Path):
    from mlkube.errors import WorkspaceUnavailableError
    from mlkube.workspace import Workspace

    workspace = Workspace.open(workspace=tmp_path,
                               tracking_uri="postgresql://u:secret@127.0.0.1:9/none")
    with pytest.raises(WorkspaceUnavailableError) as caught:
        workspace.client  # noqa: B018 - opening the store is the point
    assert "postgresql://u:***@127.0.0.1:9/none" in caught.value.message
    assert "secret" not in str(caught.value)
    assert "start-postgres.sh" in caught.value.hint
