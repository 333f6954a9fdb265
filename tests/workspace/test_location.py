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


def test_a_workspace_name_is_one_folder_whatever_the_current_directory(tmp_path: Path):
    env = {"MLKUBE_WORKSPACES_DIR": str(tmp_path / "named")}
    from_sdk = locate_workspace(workspace_name="mlw-seed", env=env, cwd=tmp_path / "a")
    from_cli = locate_workspace(env={**env, "MLKUBE_WORKSPACE_NAME": "mlw-seed"},
                                cwd=tmp_path / "b")
    assert from_sdk.root == from_cli.root == tmp_path / "named" / "mlw-seed"
    assert from_sdk.name == "mlw-seed"
    # A folder named explicitly still wins over a name.
    assert locate_workspace(workspace_name="mlw-seed", env={**env, "MLKUBE_WORKSPACE": "f"},
                            cwd=tmp_path).root == tmp_path / "f"


def test_named_workspaces_default_to_the_user_data_folder(tmp_path: Path):
    location = locate_workspace(workspace_name="w1", env={"XDG_DATA_HOME": str(tmp_path)},
                                cwd=tmp_path / "cwd")
    assert location.root == tmp_path / "mlkube" / "workspaces" / "w1"


def test_a_workspace_name_that_is_no_folder_name_is_refused(tmp_path: Path):
    with pytest.raises(ValidationError, match="Workspace name '../x' is not valid"):
        locate_workspace(workspace_name="../x", env={}, cwd=tmp_path)


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
