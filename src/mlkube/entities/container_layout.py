"""Where a deployment's model and code sit inside its container, and the variables that say so.

Azure ML lays a container out as ``/var/azureml-app/azureml-models/<name>/<version>/
<folder>`` for the model and ``/var/azureml-app/<code folder>/`` for the code, and points
the inference server at them with ``AZUREML_MODEL_DIR``, ``AML_APP_ROOT`` and
``AZUREML_ENTRY_SCRIPT``. Every target takes the paths and the variables from here:
the image renderer copies model and code to a layout's paths and bakes its variables,
the docker target and the Kubernetes renderer start containers with the same layout's
variables, and the local target names its host folders through ``host_layout``, so the
rule for the app root, the entry script and the port is written once.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import PurePath

from mlkube.entities.base import is_uri
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import OnlineDeployment, parse_asset_reference

APP_ROOT = "/var/azureml-app"
MODELS_ROOT = f"{APP_ROOT}/azureml-models"
#: The inference server's port in every container (Azure ML's SERVER_PORT default).
SERVER_PORT = 5001
#: Where a command job's inputs are in its image (jobs on Kubernetes): a uri_file as
#: ``<root>/<input>/<file name>``, a uri_folder's (or a model's) files in ``<root>/<input>/``.
JOB_INPUTS_ROOT = f"{APP_ROOT}/inputs"
#: Version folder of a model given as a local path, which has no registered version.
UNREGISTERED_VERSION = "1"
#: Every variable a layout may set, so a server started on this machine can blank the
#: ones its layout leaves unset rather than inherit them.
SERVER_VARIABLES = ("AML_APP_ROOT", "AZUREML_SOURCE_DIRECTORY", "AZUREML_MODEL_DIR",
                    "MLFLOW_MODEL_FOLDER", "AZUREML_ENTRY_SCRIPT", "MLKUBE_MODEL_NAME",
                    "MLKUBE_MODEL_VERSION", "SERVER_PORT")
#: The variables naming the model on the v2 routes: set where a server starts, not baked
#: into an image.
IDENTITY_VARIABLES = ("MLKUBE_MODEL_NAME", "MLKUBE_MODEL_VERSION")

_UNSAFE = re.compile(r"[/\\]+")


@dataclass(frozen=True)
class ContainerLayout:
    """Paths inside the container and the inference server's view of them."""

    model_name: str | None
    model_version: str | None
    #: ``AZUREML_MODEL_DIR``: ``/var/azureml-app/azureml-models/<name>/<version>``.
    model_dir: str | None
    #: The model folder's (or file's) name inside ``model_dir``, if known.
    model_folder: str | None
    #: True when that folder is an MLflow model (it is then ``MLFLOW_MODEL_FOLDER``).
    mlflow_model: bool
    #: Where the code folder is copied, if the deployment has code.
    code_dir: str | None
    #: ``AML_APP_ROOT``: the scoring script's folder (``/var/azureml-app`` without code).
    app_root: str
    #: ``AZUREML_ENTRY_SCRIPT``: the scoring script's file name, relative to ``app_root``.
    entry_script: str | None

    def environment(self, *, port: int | None = SERVER_PORT,
                    identity: bool = True) -> dict[str, str]:
        """The Azure ML variables the inference server reads, in a stable order.

        ``port=None`` leaves ``SERVER_PORT`` out (a local server gets ``--port``);
        ``identity=False`` leaves the model's v2 name and version out (an image)."""
        env = {"AML_APP_ROOT": self.app_root,
               "AZUREML_SOURCE_DIRECTORY": self.code_dir or self.app_root}
        if self.model_dir:
            env["AZUREML_MODEL_DIR"] = self.model_dir
        if self.model_folder and self.mlflow_model:
            env["MLFLOW_MODEL_FOLDER"] = self.model_folder
        if self.entry_script:
            env["AZUREML_ENTRY_SCRIPT"] = self.entry_script
        if self.model_name and identity:
            env["MLKUBE_MODEL_NAME"] = self.model_name
        if self.model_version and identity:
            env["MLKUBE_MODEL_VERSION"] = self.model_version
        if port is not None:
            env["SERVER_PORT"] = str(port)
        return env


def build_layout(*, model_name: str | None, model_version: str | None,
                 model_folder: str | None, mlflow_model: bool, code_folder: str | None,
                 scoring_script: str | None) -> ContainerLayout:
    """The layout of a container holding the named model and code folder.

    Targets that have fetched the model (and so know its real version and whether it is
    an MLflow model) call this directly; ``container_layout`` derives the same from a spec.
    """
    model_dir = (f"{MODELS_ROOT}/{_segment(model_name)}/{_segment(model_version)}"
                 if model_name and model_version else None)
    code_dir = app_root = APP_ROOT
    entry_script = None
    if code_folder is not None:
        code_dir = posixpath.join(APP_ROOT, _segment(code_folder))
        app_root, entry_script = _entry_point(code_dir, scoring_script)
    return ContainerLayout(
        model_name=model_name,
        model_version=model_version,
        model_dir=model_dir,
        model_folder=model_folder,
        mlflow_model=mlflow_model,
        code_dir=code_dir if code_folder is not None else None,
        app_root=app_root,
        entry_script=entry_script,
    )


def host_layout(*, model_dir: str | None, model_folder: str | None, mlflow_model: bool,
                code_dir: str | None, scoring_script: str | None, model_name: str | None,
                model_version: str | None) -> ContainerLayout:
    """The layout of a server started on this machine (the local target): the folders
    are the host's own, the rule for app root and entry script the container's. Without a
    script the app root is the model folder (there is no app folder to stand in)."""
    app_root, entry_script = (_entry_point(code_dir, scoring_script)
                              if code_dir is not None else (model_dir or "", None))
    return ContainerLayout(model_name=model_name, model_version=model_version,
                           model_dir=model_dir, model_folder=model_folder,
                           mlflow_model=mlflow_model, code_dir=code_dir, app_root=app_root,
                           entry_script=entry_script)


def _entry_point(code_dir: str, scoring_script: str | None) -> tuple[str, str | None]:
    """(``AML_APP_ROOT``, ``AZUREML_ENTRY_SCRIPT``): as Azure ML does, the script's own
    folder is the app root (and the working directory), and the script is named relative
    to it."""
    if not scoring_script:
        return code_dir, None
    script = PurePath(scoring_script.replace("\\", "/")).as_posix()
    return (posixpath.normpath(posixpath.join(code_dir, posixpath.dirname(script))),
            posixpath.basename(script))


def job_input_path(name: str, local: PurePath, *, is_file: bool) -> str:
    """Where a job's input ``name``, on this machine at ``local``, is in the job's image."""
    folder = f"{JOB_INPUTS_ROOT}/{_segment(name)}"
    return f"{folder}/{_segment(local.name)}" if is_file else folder


def container_layout(deployment: OnlineDeployment) -> ContainerLayout:
    """The layout of ``deployment``'s container, from its spec alone (reads no file).

    A model counts as MLflow when it says so (``type: mlflow_model``) or when the
    deployment has no scoring script (no-code deployments serve MLflow models only).
    """
    name, version, folder = _model_placement(deployment.model)
    code = deployment.code_configuration
    declared_mlflow = (isinstance(deployment.model, Model)
                       and deployment.model.type == "mlflow_model")
    return build_layout(
        model_name=name,
        model_version=version,
        model_folder=folder,
        mlflow_model=declared_mlflow or code is None,
        code_folder=_basename(code.code) if code is not None else None,
        scoring_script=code.scoring_script if code is not None else None,
    )


def _model_placement(model: Model | str | None) -> tuple[str | None, str | None, str | None]:
    """(name, version, folder) of the model's place under ``MODELS_ROOT``."""
    if model is None:
        return None, None, None
    if isinstance(model, Model):
        local = model.path if model.path and not is_uri(model.path) else None
        folder = _segment(_basename(local)) if local else None
        name = model.name or folder
        return (_segment(name) if name else None,
                _segment(model.version or UNREGISTERED_VERSION) if name else None, folder)
    reference = parse_asset_reference(model)
    if reference is not None:
        return (_segment(reference.name),
                _segment(reference.version or reference.label or "latest"), None)
    if is_uri(model):
        # A run or registry URI: the folder is the URI's last segment (runs:/<id>/model).
        folder = _segment(model.rstrip("/").rsplit("/", 1)[-1])
        return folder, UNREGISTERED_VERSION, folder
    folder = _segment(_basename(model))
    return folder, UNREGISTERED_VERSION, folder


def _basename(path: str) -> str:
    return PurePath(path.rstrip("/\\")).name or "model"


def _segment(text: str) -> str:
    # One path segment, otherwise as the image renderer writes it (it keeps names as is).
    return _UNSAFE.sub("-", text).strip() or "model"
