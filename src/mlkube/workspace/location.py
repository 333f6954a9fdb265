"""Where a workspace lives: a local folder, an MLflow tracking URI and an artifact root.

The embedded default keeps everything in one folder (``./.mlkube`` or ``MLKUBE_WORKSPACE``):
an MLflow tracking + registry store on SQLite and an artifact folder. A workspace *name*
(Azure's ``MLClient(..., workspace_name=)``, the CLI's ``--workspace-name``, or
``MLKUBE_WORKSPACE_NAME``) names a folder in one place for every current directory,
``$MLKUBE_WORKSPACES_DIR/<name>`` (default ``~/.local/share/mlkube/workspaces/<name>``),
so a script and the CLI run from anywhere find the same workspace by its name. A team points
``MLKUBE_TRACKING_URI`` (or ``tracking_uri=``) at a shared MLflow backend instead, e.g.
PostgreSQL, with ``MLKUBE_ARTIFACT_LOCATION`` naming shared artifact storage; the local
folder then only holds what is per machine (job folders, locks). Resolution is pure: it
reads the arguments and a mapping of environment variables, and touches no disk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlkube.errors import ValidationError

DEFAULT_FOLDER = ".mlkube"
DATABASE_FILE = "mlflow.db"
ARTIFACT_FOLDER = "artifacts"

ENV_WORKSPACE = "MLKUBE_WORKSPACE"
ENV_WORKSPACE_NAME = "MLKUBE_WORKSPACE_NAME"
ENV_WORKSPACES_DIR = "MLKUBE_WORKSPACES_DIR"
_WORKSPACE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
ENV_TRACKING_URI = "MLKUBE_TRACKING_URI"
ENV_ARTIFACT_LOCATION = "MLKUBE_ARTIFACT_LOCATION"

# Backends mlkube knows how to open; an MLflow tracking server (http) manages its own
# artifacts, the SQL ones need an artifact root from us.
_SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
_SERVER_SCHEMES = ("http", "https", "databricks")


@dataclass(frozen=True)
class WorkspaceLocation:
    """The resolved addresses of one workspace."""

    #: Local folder for per-machine state (job folders, locks); the whole store if embedded.
    root: Path
    #: What plain MLflow is pointed at (``mlflow.set_tracking_uri``) to see this workspace.
    tracking_uri: str
    #: Root under which mlkube creates experiment artifact folders; None: the server decides.
    artifact_location: str | None
    #: True for the SQLite store inside ``root``.
    embedded: bool
    #: The workspace name that chose ``root`` (None: a folder or the default chose it).
    name: str | None = None

    @property
    def scheme(self) -> str:
        return self.tracking_uri.split(":", 1)[0].split("+", 1)[0].lower()


def sqlite_uri(path: Path) -> str:
    """The SQLAlchemy URI of a SQLite file (absolute: ``sqlite:////abs/path``)."""
    return f"sqlite:///{Path(path).resolve()}"


def locate_workspace(
    *,
    workspace: str | os.PathLike[str] | None = None,
    tracking_uri: str | None = None,
    artifact_location: str | None = None,
    workspace_name: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> WorkspaceLocation:
    """Resolve the workspace: a folder (``workspace``, else ``MLKUBE_WORKSPACE``), else a
    name (``workspace_name``, else ``MLKUBE_WORKSPACE_NAME``) under the workspaces folder,
    else the default ``./.mlkube``. The SDK and the CLI both call this."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd

    folder = workspace or env.get(ENV_WORKSPACE)
    name = None if folder else (workspace_name or env.get(ENV_WORKSPACE_NAME) or None)
    if name:
        folder = named_workspace_folder(name, env=env)
    root = Path(os.path.expanduser(str(folder or DEFAULT_FOLDER)))
    if not root.is_absolute():
        root = cwd / root
    root = Path(os.path.normpath(root))

    uri = tracking_uri or env.get(ENV_TRACKING_URI)
    artifacts = artifact_location or env.get(ENV_ARTIFACT_LOCATION)
    if not uri:
        return WorkspaceLocation(
            root=root,
            tracking_uri=sqlite_uri(root / DATABASE_FILE),
            artifact_location=artifacts or str(root / ARTIFACT_FOLDER),
            embedded=True,
            name=name,
        )

    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in _SERVER_SCHEMES:
        return WorkspaceLocation(root=root, tracking_uri=uri, artifact_location=artifacts,
                                 embedded=False, name=name)
    if scheme in _SQL_SCHEMES:
        return WorkspaceLocation(
            root=root,
            tracking_uri=uri,
            artifact_location=artifacts or str(root / ARTIFACT_FOLDER),
            embedded=False,
            name=name,
        )
    raise ValidationError(
        f"Tracking URI {redact_uri(uri)!r} has the scheme {scheme!r}, which mlkube cannot "
        "open as a workspace.",
        hint="Use a database URI (sqlite:///..., postgresql://user:password@host/db, "
        "mysql://...) or an MLflow tracking server (http://host:5000); or unset "
        f"{ENV_TRACKING_URI} to use the embedded workspace folder.",
    )


def workspaces_folder(env: Mapping[str, str] | None = None) -> Path:
    """Where named workspaces live: ``MLKUBE_WORKSPACES_DIR``, else
    ``$XDG_DATA_HOME/mlkube/workspaces`` (``~/.local/share/mlkube/workspaces``)."""
    env = os.environ if env is None else env
    if env.get(ENV_WORKSPACES_DIR):
        return Path(os.path.expanduser(env[ENV_WORKSPACES_DIR]))
    data_home = env.get("XDG_DATA_HOME") or os.path.join("~", ".local", "share")
    return Path(os.path.expanduser(data_home)) / "mlkube" / "workspaces"


def named_workspace_folder(name: str, *, env: Mapping[str, str] | None = None) -> Path:
    """The folder of the workspace called ``name``."""
    if not _WORKSPACE_NAME.match(name):
        raise ValidationError(
            f"Workspace name {name!r} is not valid.",
            hint="Use letters, digits, '-' and '_' (up to 63), starting with a letter or "
            "digit; or give a folder with --workspace / MLKUBE_WORKSPACE.")
    return workspaces_folder(env) / name


def redact_uri(uri: str) -> str:
    """``uri`` without its password, for messages and ``workspace show``."""
    scheme, sep, rest = uri.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return uri
    credentials, _, host = rest.partition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else f"{scheme}://{user}@{host}"
