"""Turning a deployment spec into what a target runs: model, code and environment here.

A deployment names its model as a registered reference (``name:version``,
``azureml:name:version``, ``name@latest``, a ``Model`` with a name) or a local path (or
``Model(path=...)``); registered models are fetched through the workspace's model
operations once and cached. Azure ML's layout is kept: ``AZUREML_MODEL_DIR`` names a
folder in which the model appears under its own name, so a scoring script's
``AZUREML_MODEL_DIR + "/model"`` finds a model from a folder named ``model``.

The environment is the deployment's own (an ``Environment``, or a registered one), else
the MLflow model's own files; an MLflow model needs no code, any other model needs a
``code_configuration``. Every problem is found here, before anything starts, and named
with its fix.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mlkube.entities.base import is_uri
from mlkube.entities.code_configuration import CodeConfiguration
from mlkube.entities.container_layout import UNREGISTERED_VERSION
from mlkube.entities.environment import Environment
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import (
    AssetReference,
    OnlineDeployment,
    parse_asset_reference,
)
from mlkube.environments.azureml_images import is_azureml_image, substitution_note
from mlkube.environments.file_agreement import environment_file_disagreement
from mlkube.environments.resolution import (
    find_model_folder,
    resolve_model_folder,
    resolve_spec,
)
from mlkube.environments.resolved import ResolvedEnvironment
from mlkube.errors import (
    RequiredLocalArtifactsNotFoundError,
    ResourceNotFoundError,
    ValidationError,
)
from mlkube.targets.base import PreparedDeployment, Progress

_COMPLETE_MARKER = ".mlkube-complete"


def prepare_deployment(
    deployment: OnlineDeployment, *, cache_dir: Path, models: Any = None,
    environments: Any = None, progress: Progress,
) -> tuple[OnlineDeployment, PreparedDeployment]:
    """The deployment with absolute local paths, and what a target needs to run it.

    ``models`` and ``environments`` are the workspace's operations (``ml_client.models``,
    ``ml_client.environments``), needed only for registered references. ``cache_dir``
    holds downloaded registered models.
    """
    notes: list[str] = []

    def note(line: str) -> None:
        notes.append(line)
        progress(line)

    model = _fetch_model(deployment.model, cache_dir=cache_dir, models=models, note=note)
    code_dir, script = _code(deployment.code_configuration)
    if code_dir is not None:
        note(f"code: {code_dir} (scoring script {script})")
    if code_dir is None and not model.mlflow:
        what = f"Model {model.description}" if model.dir else "The deployment"
        raise ValidationError(
            f"{what} is not an MLflow model (no MLmodel file), so it needs a scoring script.",
            hint="Give the deployment code_configuration=CodeConfiguration(code=..., "
            "scoring_script='score.py') (YAML: code_configuration: {code: ..., "
            "scoring_script: ...}), or deploy an MLflow model, which needs no code.")
    environment = _environment(deployment.environment, model=model,
                               environments=environments, note=note)
    prepared = PreparedDeployment(
        model_dir=model.dir,
        model_folder=model.folder,
        model_name=model.name,
        model_version=model.version,
        mlflow_model=model.mlflow,
        code_dir=code_dir,
        scoring_script=script,
        environment=environment,
        environment_variables=dict(deployment.environment_variables),
        notes=tuple(notes),
    )
    return _with_local_paths(deployment, model=model, code_dir=code_dir), prepared


# --- the model ----------------------------------------------------------------------------


class _FetchedModel:
    """Where a deployment's model is on this machine."""

    def __init__(self, *, dir: Path | None, folder: str | None, name: str | None,
                 version: str | None, source: Path | None, description: str) -> None:
        self.dir = dir
        self.folder = folder
        self.name = name
        self.version = version
        #: The local path the user gave (None for a registered model).
        self.source = source
        self.description = description

    @property
    def path(self) -> Path | None:
        return self.dir / self.folder if self.dir and self.folder else None

    @property
    def mlflow(self) -> bool:
        path = self.path
        return bool(path and path.is_dir() and (find_model_folder(path) / "MLmodel").is_file())


def _fetch_model(model: Model | str | None, *, cache_dir: Path, models: Any,
                 note: Progress) -> _FetchedModel:
    if model is None:
        return _FetchedModel(dir=None, folder=None, name=None, version=None, source=None,
                             description="(none)")
    reference = registered_reference(model)
    if reference is not None:
        return _fetch_registered(reference, cache_dir=cache_dir, models=models, note=note)
    path = model.path if isinstance(model, Model) else model
    if not path:
        raise ValidationError(
            "The deployment's model has neither a name nor a path.",
            hint="Give Model(path='./model') for a local folder, or a registered model as "
            "'name:version' or 'name@latest'.")
    if is_uri(path):
        raise ValidationError(
            f"Model {path!r} is a URI mlkube cannot deploy directly.",
            hint="Register it first (`mlkube model create --path ...` / "
            "ml_client.models.create_or_update) and deploy it as 'name:version', or give "
            "a local folder.")
    local = Path(os.path.abspath(os.path.expanduser(path)))
    if not local.exists():
        raise RequiredLocalArtifactsNotFoundError(
            f"Model path {local} does not exist.",
            hint="Fix the model path (relative paths in YAML are relative to the YAML "
            "file, in Python to the current folder).")
    name = (model.name if isinstance(model, Model) and model.name else None) or local.name
    version = (model.version if isinstance(model, Model) and model.version else None) or (
        UNREGISTERED_VERSION)
    # The folder holding the model is AZUREML_MODEL_DIR, so the model appears in it
    # under its own name with nothing copied or linked (MLflow refuses symlinked models).
    model_dir = local.parent
    note(f"model: local {'folder' if local.is_dir() else 'file'} {local}, "
         f"AZUREML_MODEL_DIR={model_dir}")
    return _FetchedModel(dir=model_dir, folder=local.name, name=name, version=version,
                         source=local, description=str(local))


def registered_reference(model: Model | str) -> AssetReference | None:
    if isinstance(model, Model):
        if model.path and not is_uri(model.path):
            return None  # Model(path=...) is a local model, named or not, as in Azure ML
        if model.name:
            return AssetReference(model.name, model.version,
                                  None if model.version else "latest")
        if model.path:
            return _registry_uri_reference(model.path)
        return None
    return parse_asset_reference(model) or _registry_uri_reference(model)


def _registry_uri_reference(value: str) -> AssetReference | None:
    """``models:/name/3`` or ``models:/name@alias`` as a reference."""
    if not value.startswith("models:/"):
        return None
    rest = value[len("models:/"):].strip("/")
    if "@" in rest:
        name, _, label = rest.partition("@")
        return AssetReference(name, None, label)
    name, _, version = rest.partition("/")
    return AssetReference(name, version) if version else AssetReference(name, None, "latest")


def _fetch_registered(reference: AssetReference, *, cache_dir: Path, models: Any,
                      note: Progress) -> _FetchedModel:
    if models is None:
        raise ValidationError(
            f"Model {reference} is a registered model, and no workspace was given to fetch "
            "it from.",
            hint="Use ml_client.online_deployments (it knows the workspace), or give the "
            "model as a local path.")
    if reference.version:
        found = models.get(reference.name, version=reference.version)
    else:
        found = models.get(reference.name, label=reference.label or "latest")
    version = str(found.version)
    target = cache_dir / "models" / _safe(reference.name) / _safe(version)
    if not (target / _COMPLETE_MARKER).is_file():
        note(f"model: downloading registered model {reference.name}:{version}")
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{_safe(version)}-"))
        try:
            returned = models.download(reference.name, version,
                                       download_path=str(scratch / "download"))
            _arrange_download(scratch / "download", scratch / "model-dir",
                              returned=Path(returned) if returned else None)
            (scratch / "model-dir" / _COMPLETE_MARKER).write_text(f"{reference.name}:{version}\n")
            shutil.rmtree(target, ignore_errors=True)
            os.replace(scratch / "model-dir", target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    else:
        note(f"model: registered model {reference.name}:{version} (cached)")
    folders = [p for p in sorted(target.iterdir()) if p.name != _COMPLETE_MARKER]
    if not folders:
        raise ResourceNotFoundError(
            f"Registered model {reference.name}:{version} has no files.",
            hint="Register the model again from its folder.")
    return _FetchedModel(dir=target, folder=folders[0].name, name=reference.name,
                         version=version, source=None,
                         description=f"{reference.name}:{version}")


def _arrange_download(download: Path, model_dir: Path, *, returned: Path | None) -> None:
    """Give a downloaded model Azure's layout: ``model_dir/<folder>/<files>``.

    ``models.download`` returns the model's folder (``<download>/<name>/<folder>``), which
    keeps its name; loose files go into a folder named ``model``, the name MLflow logs
    models under.
    """
    model_dir.mkdir(parents=True)
    if returned is not None and returned.exists() and download in returned.parents:
        os.replace(returned, model_dir / returned.name)
        return
    entries = list(download.iterdir()) if download.is_dir() else []
    if len(entries) == 1 and entries[0].is_dir():
        os.replace(entries[0], model_dir / entries[0].name)
    else:
        os.replace(download, model_dir / "model")


# --- code and environment -----------------------------------------------------------------


def _code(code: CodeConfiguration | None) -> tuple[Path | None, str | None]:
    if code is None:
        return None, None
    folder = Path(os.path.abspath(os.path.expanduser(code.code)))
    if not folder.is_dir():
        raise RequiredLocalArtifactsNotFoundError(
            f"The code folder {folder} does not exist.",
            hint="Fix code_configuration.code (relative paths in YAML are relative to the "
            "YAML file, in Python to the current folder).")
    script = code.scoring_script.replace("\\", "/")
    if not (folder / script).is_file():
        raise RequiredLocalArtifactsNotFoundError(
            f"The scoring script {script} is not in the code folder {folder}.",
            hint="Set code_configuration.scoring_script to the script's path relative to "
            "the code folder (e.g. score.py).")
    return folder, script


def _environment(environment: Environment | str | None, *, model: _FetchedModel,
                 environments: Any, note: Progress) -> ResolvedEnvironment:
    if isinstance(environment, str):
        environment = _registered_environment(environment, environments=environments)
    has_packages = environment is not None and (
        environment.conda_file is not None or environment.pip_requirements is not None
        or environment.build is not None)
    image = environment.image if environment is not None else None
    if is_azureml_image(image):
        note(f"environment: {substitution_note(str(image))}")
    if environment is not None and has_packages:
        note(f"environment: {_describe(environment)}")
        return resolve_spec(environment, base_path=Path.cwd())
    if is_azureml_image(image):
        image = None
    if model.mlflow and model.path is not None:
        folder = find_model_folder(model.path)
        note(f"environment: the MLflow model's own files in {folder}"
             + (f" (image {image} is used by container targets)" if image else ""))
        disagreement = environment_file_disagreement(folder)
        if disagreement is not None:
            note(f"environment: warning: {disagreement.summary} (edit "
                 f"{disagreement.used.name} too, or delete it to use "
                 f"{disagreement.ignored.name})")
        resolved = resolve_model_folder(folder)
        return ResolvedEnvironment(resolved.python_version, resolved.requirements,
                                   image=image, sources=resolved.sources)
    raise ValidationError(
        "The deployment has no environment with packages, and its model is not an MLflow "
        "model whose own requirements could be used.",
        hint="Give the deployment environment=Environment(conda_file=...) or "
        "Environment(pip_requirements=[...]) (YAML: environment: {conda_file: ...}).")


def _registered_environment(reference: str, *, environments: Any) -> Environment:
    parsed = parse_asset_reference(reference)
    if parsed is None:
        raise ValidationError(
            f"Environment {reference!r} is not a registered environment reference.",
            hint="Write it as 'azureml:name:version' or 'name@latest', or inline it.")
    if environments is None:
        raise ValidationError(
            f"Environment {reference} is registered, and no workspace was given to fetch it.",
            hint="Use ml_client.online_deployments, or give the environment inline.")
    if parsed.version:
        found = environments.get(parsed.name, version=parsed.version)
    else:
        found = environments.get(parsed.name, label=parsed.label or "latest")
    if not isinstance(found, Environment):
        raise ValidationError(f"Environment {reference} could not be read.",
                              hint="Register it again with `mlkube environment create`.")
    return found


def _describe(environment: Environment) -> str:
    parts = []
    if environment.name:
        parts.append(f"{environment.name}:{environment.version or ''}".rstrip(":"))
    if isinstance(environment.conda_file, str):
        parts.append(f"conda file {environment.conda_file}")
    elif environment.conda_file is not None:
        parts.append("inline conda file")
    if environment.pip_requirements is not None:
        parts.append("pip requirements")
    if environment.image:
        parts.append(f"image {environment.image}")
    return ", ".join(parts) or "inline"


def _with_local_paths(deployment: OnlineDeployment, *, model: _FetchedModel,
                      code_dir: Path | None) -> OnlineDeployment:
    """The deployment with its local paths absolute, so state read later from another
    folder still names the right files."""
    update: dict[str, Any] = {}
    if model.source is not None:
        if isinstance(deployment.model, Model):
            update["model"] = deployment.model.model_copy(update={"path": str(model.source)})
        else:
            update["model"] = str(model.source)
    if code_dir is not None and deployment.code_configuration is not None:
        update["code_configuration"] = CodeConfiguration(
            code=str(code_dir), scoring_script=deployment.code_configuration.scoring_script)
    return deployment.model_copy(update=update) if update else deployment


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text) or "model"
