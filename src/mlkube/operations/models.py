"""``MLClient.models``: register model versions, fetch them, list and download them.

A model comes from a local folder or file, a job output (``jobs:/<job>/outputs/artifacts/
paths/model`` or Azure's ``azureml://jobs/<job>/outputs/artifacts/paths/model/``), a run
(``runs:/<run>/model``) or the registry (``models:/<name>/<version>``,
``azureml:<name>:<version>``). ``mlflow_model`` versions are checked before anything is
stored: an ``MLmodel`` file with a ``python_function`` flavor. Downloads keep Azure ML's
layout, ``<download_path>/<name>/<folder>/...`` where ``<folder>`` is the logged artifact's
name, so ``AZUREML_MODEL_DIR + "/model"`` keeps working.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlkube.entities.model import Model
from mlkube.errors import (
    ConflictError,
    RequiredLocalArtifactsNotFoundError,
    ResourceNotFoundError,
    ValidationError,
)

if TYPE_CHECKING:
    from mlkube.workspace.registry import ModelVersionRecord
    from mlkube.workspace.workspace import Workspace

# Tags mlkube keeps on a model version beside the user's own.
TAG_TYPE = "mlkube.type"
TAG_ARTIFACT = "mlkube.artifact_name"
TAG_JOB = "mlkube.job_name"
TAG_PROPERTY = "mlkube.property."

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_JOB_OUTPUT = re.compile(
    r"^(?:jobs:/|azureml://jobs/)(?P<job>[^/]+)/outputs/artifacts/paths/(?P<path>.+?)/?$"
)
_RUN = re.compile(r"^runs:/(?P<run>[^/]+)/(?P<path>.+?)/?$")
_REGISTRY = re.compile(
    r"^(?:models:/(?P<name>[^/@]+)(?:/(?P<version>[^/]+)|@(?P<alias>[^/]+))"
    r"|azureml:(?P<aname>[^:@/]+)(?::(?P<aversion>[^:/]+)|@(?P<alabel>[^/]+)))/?$"
)


# --- pure checks ---------------------------------------------------------------------------


def check_model_name(name: str | None) -> str:
    if not name:
        raise ValidationError(
            "The model has no name.",
            hint="Give it one: Model(name=..., path=...) or `mlkube model create --name`.",
        )
    if not _NAME.match(name):
        raise ValidationError(
            f"Model name {name!r} is not valid.",
            hint="Use letters, digits, '-', '_' and '.', starting with a letter or digit.",
        )
    return name


def check_mlmodel_text(text: str | None, *, where: str, nested: str | None = None) -> None:
    """An ``mlflow_model`` needs an ``MLmodel`` file with a ``python_function`` flavor."""
    if text is None:
        hint = ("Point the path at the folder that holds MLmodel"
                + (f" (it is in {nested})" if nested else "")
                + ", or register the files as type custom_model.")
        raise ValidationError(f"{where} has no MLmodel file, so it is not an MLflow model.",
                              hint=hint)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValidationError(
            f"The MLmodel file in {where} is not valid YAML: {error}.",
            hint="Save the model again with mlflow.<flavor>.save_model.",
        ) from None
    flavors = (data or {}).get("flavors") if isinstance(data, dict) else None
    if not isinstance(flavors, dict) or not flavors:
        raise ValidationError(f"The MLmodel file in {where} lists no flavors.",
                              hint="Save the model again with mlflow.<flavor>.save_model.")
    if "python_function" not in flavors:
        raise ValidationError(
            f"The MLmodel file in {where} has the flavors {', '.join(sorted(flavors))} but no "
            "python_function flavor, which mlkube needs to load and serve it.",
            hint="Log the model with a flavor that adds python_function (most do), or "
            "register it as type custom_model and serve it with a score.py.",
        )


def split_model_reference(name: str, *, version: str | None = None,
                          label: str | None = None) -> tuple[str, str | None, str | None]:
    """(name, version, label) of ``name`` written as a reference (``iris@champion``,
    ``azureml:iris:3``); a version or label given separately as well must agree."""
    bare = name.removeprefix("azureml:")
    spelled_version = spelled_label = None
    if "@" in bare:
        bare, spelled_label = bare.split("@", 1)
    elif ":" in bare:
        bare, spelled_version = bare.split(":", 1)
    for spelled, given, what in ((spelled_version, version, "version"),
                                 (spelled_label, label, "label")):
        if spelled is not None and given is not None and str(given) != spelled:
            raise ValidationError(
                f"Model {name!r} names {what} {spelled!r}, but {what} {given!r} was given too.",
                hint=f"Give the {what} once: in the name or as --{what}.")
    return bare, spelled_version or version, spelled_label or label


def artifact_name_of(source: str) -> str:
    """The folder name a version's files are downloaded into (``model`` for a logged
    model, else the last part of the source path)."""
    if source.startswith("models:/"):
        return "model"
    tail = source.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1]
    return tail or "model"


def _safe_folder(name: str) -> str:
    """A name usable as one path segment on any OS (no separators, no reserved chars)."""
    cleaned = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", name).strip(" .")
    return cleaned or "model"


def to_entity(record: ModelVersionRecord) -> Model:
    tags = {k: v for k, v in record.tags.items() if not k.startswith("mlkube.")}
    properties = {k[len(TAG_PROPERTY):]: v for k, v in record.tags.items()
                  if k.startswith(TAG_PROPERTY)}
    created = record.created_at.isoformat() if isinstance(record.created_at, datetime) else ""
    model_type = record.tags.get(TAG_TYPE, "mlflow_model")
    return Model(
        name=record.name,
        version=record.version,
        type=model_type if model_type in ("mlflow_model", "custom_model") else "custom_model",
        path=record.source,
        description=record.description,
        tags=tags,
        properties=properties,
        id=f"models:/{record.name}/{record.version}",
        creation_context={"created_at": created},
        job_name=record.tags.get(TAG_JOB),
    )


# --- the operations --------------------------------------------------------------------------


class ModelOperations:
    """Azure ML's ``ml_client.models``."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    @property
    def _registry(self) -> Any:
        return self._workspace.registry

    def create_or_update(self, model: Model) -> Model:
        """Register the next version of ``model.name`` from ``model.path``."""
        name = check_model_name(model.name)
        if not model.path:
            raise ValidationError(
                f"Model {name!r} has no path.",
                hint="Give the local folder, a job output (jobs:/<job>/outputs/artifacts/"
                "paths/model), runs:/<run>/<path> or models:/<name>/<version>.",
            )
        version = None if model.version is None else str(model.version)
        if version is not None:
            # Early, to refuse before uploading; the registry checks again under its lock.
            self._registry.check_next_version(name, version)

        source, run_id, model_id, artifact_name, job_name = self._resolve_source(model)

        tags = {**model.tags, TAG_TYPE: model.type, TAG_ARTIFACT: artifact_name}
        tags.update({TAG_PROPERTY + k: v for k, v in model.properties.items()})
        if job_name or model.job_name:
            tags[TAG_JOB] = job_name or model.job_name or ""
        try:
            record = self._registry.register(name, source=source, run_id=run_id,
                                             model_id=model_id, description=model.description,
                                             tags=tags, version=version)
        except (ConflictError, ValidationError):
            self._discard_upload(run_id)
            raise
        return to_entity(record)

    def _discard_upload(self, run_id: str | None) -> None:
        """Delete the run a refused registration uploaded its files into (never a user's
        own run): its copy belongs to no version."""
        if run_id and self._workspace.runs.get(run_id).tags.get("mlkube.kind") == "model-upload":
            self._workspace.runs.delete(run_id)

    def _resolve_source(self, model: Model) -> tuple[str, str | None, str | None, str,
                                                     str | None]:
        """(source URI, run id, logged model id, folder name, job name) of ``model.path``."""
        path = str(model.path)
        job_output = _JOB_OUTPUT.match(path)
        if job_output:
            from mlkube.operations.jobs import find_job_run

            run = find_job_run(self._workspace, job_output["job"])
            source, model_id = self._workspace.runs.output_uri(run.run_id, job_output["path"])
            self._validate_remote(model, source, where=f"job {job_output['job']}'s output "
                                  f"{job_output['path']!r}")
            return (source, run.run_id, model_id, artifact_name_of(job_output["path"]),
                    job_output["job"])
        run_match = _RUN.match(path)
        if run_match:
            self._workspace.runs.get(run_match["run"])  # a clear error if it does not exist
            source, model_id = self._workspace.runs.output_uri(run_match["run"],
                                                               run_match["path"])
            self._validate_remote(model, source, where=path)
            return source, run_match["run"], model_id, artifact_name_of(run_match["path"]), None
        registry = _REGISTRY.match(path)
        if registry:
            existing = self.get(registry["name"] or registry["aname"],
                                version=registry["version"] or registry["aversion"],
                                label=registry["alias"] or registry["alabel"])
            record = self._registry.get(existing.name, existing.version)
            self._validate_remote(model, record.source, where=path)
            artifact = record.tags.get(TAG_ARTIFACT) or artifact_name_of(record.source)
            model_id = record.source[len("models:/"):] if record.source.startswith(
                "models:/") else None
            return record.source, record.run_id, model_id, artifact, None
        if path.startswith("models:/"):
            # An MLflow 3 logged model id: models:/m-...
            self._validate_remote(model, path, where=path)
            return path, None, path[len("models:/"):].split("/")[0], "model", None
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", path) and not path.startswith("file://"):
            raise ValidationError(
                f"Model path {path!r} is not something mlkube can register from.",
                hint="Use a local folder, jobs:/<job>/outputs/artifacts/paths/<name>, "
                "runs:/<run>/<path>, models:/<name>/<version> or azureml:<name>:<version>.",
            )
        return self._upload_local(model, Path(path.removeprefix("file://")))

    def _validate_remote(self, model: Model, source: str, *, where: str) -> None:
        if model.type == "mlflow_model":
            check_mlmodel_text(self._registry.read_text(source, "MLmodel"), where=where)

    def _upload_local(self, model: Model, path: Path) -> tuple[str, str | None, str | None,
                                                                 str, str | None]:
        path = path.expanduser().resolve()
        if not path.exists():
            raise RequiredLocalArtifactsNotFoundError(
                f"Model path {path} does not exist.",
                hint="Check the path (relative paths in YAML are relative to the YAML file).",
            )
        if model.type == "mlflow_model":
            if not path.is_dir():
                raise ValidationError(
                    f"Model path {path} is a file; an mlflow_model is a folder with an MLmodel "
                    "file.",
                    hint="Point the path at the model folder, or use type custom_model.",
                )
            mlmodel = path / "MLmodel"
            nested = [p.parent.name for p in path.glob("*/MLmodel")]
            check_mlmodel_text(mlmodel.read_text() if mlmodel.is_file() else None,
                               where=str(path),
                               nested=str(path / nested[0]) if nested else None)
        artifact_name = _safe_folder(path.name)
        source, run_id = self._registry.upload(path, name=str(model.name),
                                               artifact_name=artifact_name)
        return source, run_id, None, artifact_name, None

    # --- reading -------------------------------------------------------------------------

    def get(self, name: str, version: str | None = None, label: str | None = None) -> Model:
        """A version by number, or by label: ``latest`` (the highest) or an MLflow alias.
        With neither, the latest. ``name`` may carry either, as deployments write it:
        ``iris@latest``, ``iris@champion``, ``iris:3`` (``azureml:`` prefix allowed)."""
        name, version, label = split_model_reference(name, version=version, label=label)
        if version is not None and label is not None:
            raise ValidationError(
                f"Both version {version!r} and label {label!r} were given for model {name!r}.",
                hint="Give either a version or a label.",
            )
        if version is not None and str(version) != "latest":
            return to_entity(self._registry.get(name, str(version)))
        if label in (None, "latest") or version == "latest":
            return to_entity(self._registry.latest(name))
        return to_entity(self._registry.by_alias(name, str(label)))

    def list(self, name: str | None = None) -> list[Model]:
        """Every version of ``name`` (newest first), or the latest version of every model."""
        if name is not None:
            versions = self._registry.versions(name)
            if not versions:
                raise ResourceNotFoundError(
                    f"No model named {name!r} in the workspace.",
                    hint="List the models that exist with `mlkube model list`.",
                )
            return [to_entity(v) for v in reversed(versions)]
        latest = []
        for model_name in self._registry.names():
            versions = self._registry.versions(model_name)
            if versions:
                latest.append(to_entity(versions[-1]))
        return latest

    def download(self, name: str, version: str | None = None,
                 download_path: str | Path = ".") -> Path:
        """Download a version to ``<download_path>/<name>/<folder>/`` (Azure ML's layout;
        existing content there is replaced). Returns that folder."""
        model = self.get(name, version=version)
        name = str(model.name)
        record = self._registry.get(model.name, model.version)
        folder = record.tags.get(TAG_ARTIFACT) or artifact_name_of(record.source)
        # Path objects all the way: no separator is ever glued by hand (Azure's WinError 123).
        target = Path(download_path).expanduser() / _safe_folder(str(model.name)) / \
            _safe_folder(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
            staged = self._registry.download(str(model.name), str(model.version),
                                             Path(tmp) / "files")
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            staged.rename(target)
        return target
