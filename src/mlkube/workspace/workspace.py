"""The Workspace: one MLflow tracking + registry store, its artifact root and a local folder.

Everything mlkube keeps (models, jobs, environments, computes, endpoint records) lives in
an MLflow store, so plain MLflow pointed at ``Workspace.tracking_uri`` sees the same
runs and registered models. The store is created on first use: for the embedded SQLite
file and for a fresh PostgreSQL database the tables are created under a lock, so two
processes starting at once never race on the schema; the SQLite file is switched to
write-ahead logging so readers never block writers and a crash loses nothing committed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlkube.errors import WorkspaceUnavailableError
from mlkube.workspace.location import (
    DATABASE_FILE,
    WorkspaceLocation,
    locate_workspace,
    redact_uri,
)
from mlkube.workspace.locks import advisory_lock, file_lock
from mlkube.workspace.retry import retrying

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlkube.workspace.records import RecordStore
    from mlkube.workspace.registry import ModelRegistry
    from mlkube.workspace.runs import RunStore

CONNECT_TIMEOUT_S = 5
_INITIALISED_MARKER = ".initialised"
# Stores this process has already checked or created, by tracking URI.
_ready: set[str] = set()


class Workspace:
    """A handle on one workspace; cheap to create, opens the store on first use."""

    def __init__(self, location: WorkspaceLocation) -> None:
        self.location = location

    @classmethod
    def open(
        cls,
        *,
        workspace: str | os.PathLike[str] | None = None,
        tracking_uri: str | None = None,
        artifact_location: str | None = None,
        workspace_name: str | None = None,
    ) -> Workspace:
        """The workspace named by the arguments, else ``MLKUBE_*`` variables, else ``./.mlkube``."""
        return cls(locate_workspace(workspace=workspace, tracking_uri=tracking_uri,
                                    artifact_location=artifact_location,
                                    workspace_name=workspace_name))

    # --- addresses ---------------------------------------------------------------------

    @property
    def root(self) -> Path:
        return self.location.root

    @property
    def tracking_uri(self) -> str:
        """Point plain MLflow here (``mlflow.set_tracking_uri``) to see this workspace."""
        return self.location.tracking_uri

    @property
    def artifact_location(self) -> str | None:
        return self.location.artifact_location

    @property
    def jobs_folder(self) -> Path:
        """Per-machine job folders: code snapshots, downloaded inputs, live logs."""
        return self.root / "jobs"

    def describe(self, *, show_secrets: bool = False) -> dict[str, Any]:
        """What ``mlkube workspace show`` prints; the database password only if asked."""
        uri = self.tracking_uri if show_secrets else redact_uri(self.tracking_uri)
        return {
            **({"name": self.location.name} if self.location.name else {}),
            "folder": str(self.root),
            "tracking_uri": uri,
            "registry_uri": uri,
            "artifact_location": self.artifact_location or "(managed by the tracking server)",
            "backend": "sqlite (embedded)" if self.location.embedded else self.location.scheme,
        }

    # --- the store -----------------------------------------------------------------------

    @functools.cached_property
    def client(self) -> MlflowClient:
        """An MlflowClient on this workspace's tracking and registry store."""
        self._ensure_store()
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    @functools.cached_property
    def _sql_engine(self) -> Any:
        """A small SQLAlchemy engine for server databases: reachability and advisory locks."""
        import sqlalchemy
        from sqlalchemy.pool import NullPool

        connect_args: dict[str, Any] = {}
        if self.location.scheme == "postgresql":
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
        return sqlalchemy.create_engine(self.tracking_uri, poolclass=NullPool,
                                        connect_args=connect_args)

    def _check_reachable(self) -> None:
        try:
            with self._sql_engine.connect():
                pass
        except Exception as error:  # any driver error means "cannot reach"
            reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
            raise WorkspaceUnavailableError(
                f"Cannot reach the workspace database {redact_uri(self.tracking_uri)}: {reason}",
                hint="Start the database (for the tests: .ci/start-postgres.sh), check the "
                "host, port, user and password in the tracking URI, or unset "
                "MLKUBE_TRACKING_URI to use the embedded workspace.",
            ) from None

    def _ensure_store(self) -> None:
        if self.tracking_uri in _ready:
            return
        scheme = self.location.scheme
        if self.location.embedded:
            self._ensure_sqlite_store()
        elif scheme in ("postgresql", "mysql", "mssql"):
            self._check_reachable()
            # Creating the tables is a multi-statement migration: one process at a time.
            with self.lock("create-tables"):
                self._create_tables()
        elif scheme == "sqlite":
            with self.lock("create-tables"):
                self._create_tables()
        _ready.add(self.tracking_uri)

    def _ensure_sqlite_store(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        marker = self.root / _INITIALISED_MARKER
        if marker.exists():
            return
        with file_lock(self.root / "locks", "create-tables"):
            if marker.exists():
                return
            database = self.root / DATABASE_FILE
            # Write-ahead logging: readers never block the writer, commits are durable.
            with contextlib.closing(sqlite3.connect(database)) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
            self._create_tables()
            marker.write_text("MLflow tables created; see mlflow.db\n")

    def _create_tables(self) -> None:
        from mlflow.store.model_registry.sqlalchemy_store import (
            SqlAlchemyStore as RegistryStore,
        )
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

        # MLflow announces each migration step at INFO; the user asked for something else.
        for name in ("mlflow.store.db.utils", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
        # The artifact root given here becomes the Default experiment's location, so runs
        # logged by plain MLflow into it land in the workspace, not in ./mlruns.
        retrying(lambda: TrackingStore(self.tracking_uri, self.artifact_location or "./mlruns"))
        retrying(lambda: RegistryStore(self.tracking_uri))

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Exclusive among every process using this workspace (see ``locks``)."""
        if self.location.scheme == "postgresql":
            with advisory_lock(self._sql_engine, f"mlkube:{key}"):
                yield
        else:
            with file_lock(self.root / "locks", key):
                yield

    # --- what is stored ------------------------------------------------------------------

    def records(self, kind: str) -> RecordStore:
        """The store of records of ``kind`` (environments, computes, endpoints, ...)."""
        from mlkube.workspace.records import RecordStore

        return RecordStore(self, kind)

    @functools.cached_property
    def registry(self) -> ModelRegistry:
        from mlkube.workspace.registry import ModelRegistry

        return ModelRegistry(self)

    @functools.cached_property
    def runs(self) -> RunStore:
        from mlkube.workspace.runs import RunStore

        return RunStore(self)

    def __repr__(self) -> str:
        return f"Workspace(tracking_uri={redact_uri(self.tracking_uri)!r}, root='{self.root}')"
