"""The model registry of the workspace: MLflow registered models and their versions.

mlkube models *are* MLflow registered model versions, so plain MLflow sees what mlkube
registers and the other way round. Files registered from a local folder are first copied
into the workspace's artifact store (a run in the experiment ``mlkube/models``), so the
version survives the folder being deleted; a job output or a run's model is registered
where it already is. Versions are created under the workspace lock (and MLflow's own
unique key), so concurrent registrations get distinct versions; a registration that asks
for a version number has it checked under that same lock, so of several asking for one
version exactly one gets it and the others are refused (a check before the lock would
let them all pass and hand the later ones the next numbers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlkube.errors import ConflictError, ResourceNotFoundError, ValidationError
from mlkube.workspace.retry import retrying
from mlkube.workspace.runs import quote

if TYPE_CHECKING:
    from mlkube.workspace.workspace import Workspace

UPLOAD_EXPERIMENT = "mlkube/models"


@dataclass(frozen=True)
class ModelVersionRecord:
    """One registered model version, as MLflow keeps it."""

    name: str
    version: str
    #: Where the files are: a run artifact URI, ``models:/<logged model id>``, a path.
    source: str
    run_id: str | None
    description: str | None
    created_at: datetime | None
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @classmethod
    def from_mlflow(cls, version: Any) -> ModelVersionRecord:
        created = version.creation_timestamp
        return cls(
            name=version.name,
            version=str(version.version),
            source=version.source,
            run_id=version.run_id or None,
            description=version.description or None,
            created_at=None if created is None
            else datetime.fromtimestamp(created / 1000, tz=timezone.utc),
            tags=dict(version.tags or {}),
            aliases=tuple(getattr(version, "aliases", None) or ()),
        )


class ModelRegistry:
    """Registered models of one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    @property
    def _client(self) -> Any:
        return self._workspace.client

    def _not_found(self, name: str, what: str) -> ResourceNotFoundError:
        return ResourceNotFoundError(
            f"Model {name!r} has no {what} in the workspace.",
            hint=f"List the versions with `mlkube model list --name {name}` (or all models "
            "with `mlkube model list`).",
        )

    # --- writing -------------------------------------------------------------------------

    def upload(self, local_path: Path, *, name: str, artifact_name: str) -> tuple[str, str]:
        """Copy a local file or folder into the artifact store as ``<artifact_name>/...``;
        returns (source URI, run id) to register."""
        runs = self._workspace.runs
        experiment_id = runs.experiment_id(UPLOAD_EXPERIMENT, tags={"mlkube.hidden": "true"})
        run = runs.create(experiment_id=experiment_id, run_name=f"register {name}",
                          tags={"mlkube.kind": "model-upload", "mlkube.model.name": name})
        try:
            runs.log_artifacts(run.run_id, local_path, artifact_path=artifact_name)
        except BaseException:
            runs.set_status(run.run_id, "FAILED", terminal=True)
            raise
        runs.set_status(run.run_id, "FINISHED", terminal=True)
        return f"{run.artifact_uri.rstrip('/')}/{artifact_name}", run.run_id

    def register(
        self,
        name: str,
        *,
        source: str,
        run_id: str | None = None,
        model_id: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        version: str | None = None,
    ) -> ModelVersionRecord:
        """Create the next version of ``name`` (and the registered model, if new).

        ``version``, when given, is the number the caller requires: a ``ConflictError``
        if it exists, a ``ValidationError`` if it is not the next one."""
        from mlflow.exceptions import MlflowException

        if source.startswith(("models:/", "runs:/")):
            # MLflow would resolve these against the *global* tracking URI, not this
            # workspace's; register the storage location itself (model_id keeps the link).
            source = self.artifact_uri(source)
        with self._workspace.lock(f"models/{name}"):
            if version is not None:
                self.check_next_version(name, version)
            try:
                retrying(lambda: self._client.get_registered_model(name))
            except MlflowException as error:
                if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
                try:
                    retrying(lambda: self._client.create_registered_model(name))
                except MlflowException as create_error:
                    # A plain MLflow client may have created it meanwhile; that is fine.
                    if create_error.error_code != "RESOURCE_ALREADY_EXISTS":
                        raise
            version = retrying(lambda: self._client.create_model_version(
                name, source, run_id=run_id, tags=dict(tags or {}), description=description,
                model_id=model_id, await_creation_for=0))
        return ModelVersionRecord.from_mlflow(version)

    def check_next_version(self, name: str, version: str) -> None:
        """Refuse ``version`` unless it is the next number of ``name`` (MLflow numbers
        versions itself, so a requested one can only be the next)."""
        versions = self.versions(name)
        if any(v.version == version for v in versions):
            raise ConflictError(
                f"Model {name!r} version {version} already exists; versions cannot be "
                "changed.",
                hint="Omit the version to register the next one.",
            )
        expected = str(int(versions[-1].version) + 1 if versions else 1)
        if version != expected:
            raise ValidationError(
                f"Model {name!r} cannot get version {version}: the registry numbers versions "
                f"in order and the next one is {expected}.",
                hint="Omit the version (it is assigned automatically).",
            )

    # --- reading -------------------------------------------------------------------------

    def get(self, name: str, version: str) -> ModelVersionRecord:
        from mlflow.exceptions import MlflowException

        try:
            found = retrying(lambda: self._client.get_model_version(name, str(version)))
        except MlflowException as error:
            if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise self._not_found(name, f"version {version!r}") from None
            raise
        return ModelVersionRecord.from_mlflow(found)

    def by_alias(self, name: str, alias: str) -> ModelVersionRecord:
        from mlflow.exceptions import MlflowException

        try:
            found = retrying(lambda: self._client.get_model_version_by_alias(name, alias))
        except MlflowException as error:
            if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise self._not_found(name, f"label or alias {alias!r}") from None
            raise
        return ModelVersionRecord.from_mlflow(found)

    def versions(self, name: str) -> list[ModelVersionRecord]:
        """Every version of ``name``, oldest first (empty if the model does not exist)."""
        found = retrying(lambda: list(self._client.search_model_versions(
            f"name = {quote(name)}", max_results=10_000)))
        records = [ModelVersionRecord.from_mlflow(v) for v in found]
        return sorted(records, key=lambda r: int(r.version))

    def latest(self, name: str) -> ModelVersionRecord:
        """The highest version (Azure ML's label ``latest``)."""
        versions = self.versions(name)
        if not versions:
            raise self._not_found(name, "versions (label 'latest')")
        return versions[-1]

    def names(self) -> list[str]:
        found: list[str] = []
        token = None
        while True:
            page = retrying(partial(self._client.search_registered_models, max_results=1000,
                                    page_token=token))
            found.extend(m.name for m in page)
            token = page.token
            if not token:
                return sorted(found)

    # --- files ---------------------------------------------------------------------------

    def artifact_uri(self, source: str) -> str:
        """The storage URI behind a source: MLflow's ``models:/`` and ``runs:/`` URIs are
        resolved against *this* workspace (MLflow itself would use the global tracking URI)."""
        if source.startswith("models:/"):
            model_id, _, rest = source[len("models:/"):].partition("/")
            logged = retrying(lambda: self._client.get_logged_model(model_id))
            base = logged.artifact_location.rstrip("/")
            return f"{base}/{rest}" if rest else base
        if source.startswith("runs:/"):
            run_id, _, rest = source[len("runs:/"):].partition("/")
            base = self._workspace.runs.get(run_id).artifact_uri.rstrip("/")
            return f"{base}/{rest}" if rest else base
        return source

    def download(self, name: str, version: str, dest: Path) -> Path:
        """Download the version's files into the folder ``dest`` (created); returns the folder
        that holds them."""
        import mlflow.artifacts

        dest.mkdir(parents=True, exist_ok=True)
        uri = self.artifact_uri(self.get(name, version).source)
        return Path(retrying(lambda: mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(dest), tracking_uri=self._workspace.tracking_uri)))

    def read_text(self, source: str, relative_path: str) -> str | None:
        """The text of one file of ``source`` (any artifact URI), or None if it is absent."""
        import tempfile

        import mlflow.artifacts
        from mlflow.exceptions import MlflowException

        try:
            uri = f"{self.artifact_uri(source).rstrip('/')}/{relative_path}"
        except MlflowException:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = retrying(lambda: mlflow.artifacts.download_artifacts(
                    artifact_uri=uri, dst_path=tmp, tracking_uri=self._workspace.tracking_uri))
            except (MlflowException, OSError):
                return None
            file = Path(path)
            return file.read_text() if file.is_file() else None
