"""Experiments and runs of the workspace, as plain data for the layers above.

Jobs are MLflow runs, and so are the records of kinds MLflow has no table for. This
module is the one place that turns MLflow's run objects into ``RunRecord`` values, finds
a run's outputs (MLflow 3 keeps an autologged model as a *LoggedModel* under
``models/<id>/artifacts``, not in the run's artifact folder) and moves artifacts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlkube.errors import ResourceNotFoundError
from mlkube.workspace.retry import retrying

if TYPE_CHECKING:
    from mlkube.workspace.workspace import Workspace

_PAGE = 1000


def _datetime(millis: int | None) -> datetime | None:
    return None if millis is None else datetime.fromtimestamp(millis / 1000, tz=timezone.utc)


def quote(value: str) -> str:
    """``value`` as a single-quoted literal of an MLflow filter string."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class RunRecord:
    """What mlkube needs to know about one MLflow run."""

    run_id: str
    experiment_id: str
    run_name: str
    #: MLflow's status: SCHEDULED, RUNNING, FINISHED, FAILED, KILLED.
    status: str
    start_time: datetime | None
    end_time: datetime | None
    artifact_uri: str
    tags: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_mlflow(cls, run: Any) -> RunRecord:
        return cls(
            run_id=run.info.run_id,
            experiment_id=run.info.experiment_id,
            run_name=run.info.run_name or "",
            status=run.info.status,
            start_time=_datetime(run.info.start_time),
            end_time=_datetime(run.info.end_time),
            artifact_uri=run.info.artifact_uri,
            tags=dict(run.data.tags),
            params=dict(run.data.params),
            metrics=dict(run.data.metrics),
        )


class RunStore:
    """Experiments, runs and their artifacts in one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    @property
    def _client(self) -> Any:
        return self._workspace.client

    # --- experiments ---------------------------------------------------------------------

    def experiment_id(self, name: str, *, tags: Mapping[str, str] | None = None) -> str:
        """The id of experiment ``name``, created (with an artifact folder in the workspace's
        artifact root) if it does not exist, restored if it was deleted."""
        from mlflow.exceptions import MlflowException

        def lookup() -> str | None:
            found = self._client.get_experiment_by_name(name)
            if found is None:
                return None
            if found.lifecycle_stage == "deleted":
                self._client.restore_experiment(found.experiment_id)
            return found.experiment_id

        existing = retrying(lookup)
        if existing is not None:
            return existing
        location = _experiment_location(self._workspace.artifact_location, name)
        try:
            return retrying(lambda: self._client.create_experiment(
                name, artifact_location=location, tags=dict(tags or {})))
        except MlflowException:
            # Another process created it between our lookup and our create.
            existing = retrying(lookup)
            if existing is None:
                raise
            return existing

    def experiment_name(self, experiment_id: str) -> str:
        return retrying(lambda: self._client.get_experiment(experiment_id)).name

    def _all_experiment_ids(self) -> list[str]:
        ids: list[str] = []
        token = None
        while True:
            page = retrying(partial(self._client.search_experiments, max_results=_PAGE,
                                    page_token=token))
            ids.extend(e.experiment_id for e in page)
            token = page.token
            if not token:
                return ids

    # --- runs ----------------------------------------------------------------------------

    def create(self, *, experiment_id: str, run_name: str,
               tags: Mapping[str, str] | None = None) -> RunRecord:
        run = retrying(lambda: self._client.create_run(
            experiment_id, run_name=run_name, tags=dict(tags or {})))
        return RunRecord.from_mlflow(run)

    def get(self, run_id: str) -> RunRecord:
        from mlflow.exceptions import MlflowException

        try:
            return RunRecord.from_mlflow(retrying(lambda: self._client.get_run(run_id)))
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise ResourceNotFoundError(
                    f"Run {run_id!r} does not exist in the workspace {self._workspace.root}.",
                    hint="List runs with plain MLflow pointed at `mlkube workspace show`'s "
                    "tracking URI.",
                ) from None
            raise

    def search(self, filter_string: str, *, experiment_ids: list[str] | None = None,
               order_by: list[str] | None = None) -> list[RunRecord]:
        """Every active run matching ``filter_string``, in all experiments unless named."""
        ids = experiment_ids if experiment_ids is not None else self._all_experiment_ids()
        if not ids:
            return []
        found: list[RunRecord] = []
        token = None
        while True:
            page = retrying(partial(self._client.search_runs,
                ids, filter_string=filter_string, max_results=_PAGE,
                order_by=order_by, page_token=token))
            found.extend(RunRecord.from_mlflow(run) for run in page)
            token = page.token
            if not token:
                return found

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        retrying(lambda: self._client.log_batch(
            run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()]))

    def set_status(self, run_id: str, status: str, *, terminal: bool) -> None:
        """Set MLflow's status (RUNNING, FINISHED, FAILED, KILLED); ``terminal`` sets the end
        time as well."""
        if terminal:
            retrying(lambda: self._client.set_terminated(run_id, status=status))
        else:
            retrying(lambda: self._client.update_run(run_id, status=status))

    def delete(self, run_id: str) -> None:
        retrying(lambda: self._client.delete_run(run_id))

    # --- artifacts -----------------------------------------------------------------------

    def log_artifacts(self, run_id: str, local_path: Path, *,
                      artifact_path: str | None = None) -> None:
        """Copy a file or folder into the run's artifacts (under ``artifact_path``)."""
        if Path(local_path).is_dir():
            retrying(lambda: self._client.log_artifacts(run_id, str(local_path), artifact_path))
        else:
            retrying(lambda: self._client.log_artifact(run_id, str(local_path), artifact_path))

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        retrying(lambda: self._client.log_text(run_id, text, artifact_file))

    def download(self, run_id: str, artifact_path: str, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        return Path(retrying(lambda: self._client.download_artifacts(
            run_id, artifact_path, str(dest))))

    def artifact_exists(self, run_id: str, artifact_path: str) -> bool:
        parent, _, leaf = artifact_path.strip("/").rpartition("/")
        listing = retrying(lambda: self._client.list_artifacts(run_id, parent or None))
        return any(item.path.rstrip("/").rpartition("/")[2] == leaf for item in listing)

    def logged_model_uri(self, run_id: str, name: str) -> tuple[str, str] | None:
        """(``models:/<model_id>``, model_id) of the newest model named ``name`` that the run
        logged (MLflow 3 LoggedModel), or None."""
        run = self.get(run_id)
        models = retrying(lambda: self._client.search_logged_models(
            experiment_ids=[run.experiment_id],
            filter_string=f"source_run_id = {quote(run_id)} AND name = {quote(name)}",
            order_by=[{"field_name": "creation_time", "ascending": False}],
        ))
        if not models:
            return None
        return f"models:/{models[0].model_id}", models[0].model_id

    def output_uri(self, run_id: str, path: str) -> tuple[str, str | None]:
        """Where a run's output ``path`` (e.g. ``model``) is: (artifact URI, logged model id).

        A model the run logged with MLflow 3 (autolog) is found through its logged models;
        anything else through the run's artifact folder.
        """
        path = path.strip("/")
        head, _, rest = path.partition("/")
        logged = self.logged_model_uri(run_id, head)
        if logged is not None:
            uri, model_id = logged
            return (f"{uri}/{rest}" if rest else uri), model_id
        if self.artifact_exists(run_id, path):
            return f"{self.get(run_id).artifact_uri.rstrip('/')}/{path}", None
        raise ResourceNotFoundError(
            f"Run {run_id} has no output {path!r}: it logged no model named {head!r} and has "
            f"no artifact at {path!r}.",
            hint="Check the output name (autolog logs the model as 'model'); see the run's "
            "artifacts in MLflow.",
        )


def _experiment_location(root: str | None, name: str) -> str | None:
    """A readable artifact folder per experiment (None: the tracking server chooses)."""
    if root is None:
        return None
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "experiment"
    if "://" in root:
        return f"{root.rstrip('/')}/{slug}"
    return str(Path(root) / slug)
