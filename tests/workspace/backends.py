"""The two workspace backends every workspace and operations test runs against: the
embedded SQLite folder and a real PostgreSQL server (started by .ci/start-postgres.sh).

Each test session gets a fresh PostgreSQL database (created beside the one named by
MLKUBE_TEST_POSTGRES_URI, dropped at the end), so "latest" and listings see only what the
session made. One cache serves the fixtures of every test package, so the database is
created (and its tables migrated) once per session.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from mlkube.workspace import Workspace

POSTGRES_URI = os.environ.get(
    "MLKUBE_TEST_POSTGRES_URI", "postgresql://mlkube:mlkube@127.0.0.1:5432/mlkube_test")
BACKENDS = ["sqlite", "postgresql"]
REPO = Path(__file__).resolve().parents[2]
MLKUBE = str(Path(sys.executable).parent / "mlkube")

_workspaces: dict[str, Workspace] = {}


def _admin_connect(uri: str):  # psycopg's connection type
    import psycopg

    try:
        return psycopg.connect(uri, connect_timeout=5, autocommit=True)
    except Exception as error:  # any failure means "not running"
        pytest.fail(
            f"PostgreSQL is not reachable at {uri.split('@')[-1]} ({error}). "
            "Run `.ci/start-postgres.sh` (as root) first, or set MLKUBE_TEST_POSTGRES_URI.",
            pytrace=False,
        )


def fresh_postgres_database(finalizers: Callable[[Callable[[], None]], None]) -> str:
    """The URI of a new, empty database, dropped when the session ends."""
    base, _, _ = POSTGRES_URI.rpartition("/")
    name = f"mlkube_t_{secrets.token_hex(4)}"
    with _admin_connect(POSTGRES_URI) as connection:
        connection.execute(f'create database "{name}"')

    def drop() -> None:
        import psycopg

        try:
            with psycopg.connect(POSTGRES_URI, connect_timeout=5, autocommit=True) as admin:
                admin.execute(f'drop database if exists "{name}" with (force)')
        except Exception:  # best effort at teardown; CI machines are fresh
            pass

    finalizers(drop)
    return f"{base}/{name}"


def workspace_for(backend: str, tmp_path_factory: pytest.TempPathFactory,
                  finalizers: Callable[[Callable[[], None]], None]) -> Workspace:
    """The session's workspace on ``backend`` (created on first use)."""
    if backend not in _workspaces:
        root = tmp_path_factory.mktemp(f"workspace-{backend}")
        if backend == "sqlite":
            workspace = Workspace.open(workspace=root / ".mlkube")
        else:
            workspace = Workspace.open(workspace=root / ".mlkube",
                                       tracking_uri=fresh_postgres_database(finalizers),
                                       artifact_location=str(root / "shared-artifacts"))
        workspace.client  # noqa: B018 - create the tables now, not inside a timed test
        _workspaces[backend] = workspace
    return _workspaces[backend]


def workspace_env(workspace: Workspace) -> dict[str, str]:
    """Environment variables that point a subprocess (the CLI) at ``workspace``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLKUBE_", "MLFLOW_"))}
    env["MLKUBE_WORKSPACE"] = str(workspace.root)
    if not workspace.location.embedded:
        env["MLKUBE_TRACKING_URI"] = workspace.tracking_uri
        env["MLKUBE_ARTIFACT_LOCATION"] = str(workspace.artifact_location)
    return env


def run_python(code: str, *, env: dict[str, str] | None = None,
               timeout: float = 180) -> subprocess.Popen[str]:
    """Start ``code`` in a new Python process (the caller waits for it)."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"
