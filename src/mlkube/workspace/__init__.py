"""The workspace: where models, jobs, environments, computes and endpoint records live.

An MLflow tracking + model-registry store (embedded SQLite in ``./.mlkube`` by default, or
any MLflow tracking URI, e.g. PostgreSQL, for a team) plus an artifact root and a local
folder. This package is the only one that talks to MLflow's tracking client; the layers
above get plain records (``Record``, ``RunRecord``, ``ModelVersionRecord``).
"""

from __future__ import annotations

from mlkube.workspace.location import WorkspaceLocation, locate_workspace
from mlkube.workspace.records import Record, RecordStore
from mlkube.workspace.registry import ModelRegistry, ModelVersionRecord
from mlkube.workspace.runs import RunRecord, RunStore
from mlkube.workspace.workspace import Workspace

__all__ = [
    "ModelRegistry",
    "ModelVersionRecord",
    "Record",
    "RecordStore",
    "RunRecord",
    "RunStore",
    "Workspace",
    "WorkspaceLocation",
    "locate_workspace",
]
