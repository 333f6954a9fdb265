"""Where a workspace lives: a local folder, an MLflow tracking URI and an artifact root.

The embedded default keeps everything in one folder (``./.mlkube`` or ``MLKUBE_WORKSPACE``):
an MLflow tracking + registry store on SQLite and an artifact folder. A team points
``MLKUBE_TRACKING_URI`` (or ``tracking_uri=``) at a shared MLflow backend instead, e.g.
PostgreSQL, with ``MLKUBE_ARTIFACT_LOCATION`` naming shared artifact storage; the local
folder then only holds what is per machine (job folders, locks). Resolution is pure: it
reads the arguments and a mapping of environment variables, and touches no disk.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlkube.errors import ValidationError

DEFAULT_FOLDER = ".mlkube"
DATABASE_FILE = "mlflow.db"
ARTIFACT_FOLDER = "artifacts"

ENV_WORKSPACE = "MLKUBE_WORKSPACE"
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
    """Resolve the workspace from explicit arguments, then environment variables, then the
    default ``./.mlkube`` (or ``./<workspace_name>`` for a script ported from Azure ML)."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd

    folder = workspace or env.get(ENV_WORKSPACE) or workspace_name or DEFAULT_FOLDER
    root = Path(os.path.expanduser(str(folder)))
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
        )

    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in _SERVER_SCHEMES:
        return WorkspaceLocation(root=root, tracking_uri=uri, artifact_location=artifacts,
                                 embedded=False)
    if scheme in _SQL_SCHEMES:
        return WorkspaceLocation(
            root=root,
            tracking_uri=uri,
            artifact_location=artifacts or str(root / ARTIFACT_FOLDER),
            embedded=False,
        )
    raise ValidationError(
        f"Tracking URI {redact_uri(uri)!r} has the scheme {scheme!r}, which mlkube cannot "
        "open as a workspace.",
        hint="Use a database URI (sqlite:///..., postgresql://user:password@host/db, "
        "mysql://...) or an MLflow tracking server (http://host:5000); or unset "
        f"{ENV_TRACKING_URI} to use the embedded workspace folder.",
    )


def redact_uri(uri: str) -> str:
    """``uri`` without its password, for messages and ``workspace show``."""
    scheme, sep, rest = uri.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return uri
    credentials, _, host = rest.partition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else f"{scheme}://{user}@{host}"
