"""The image of a deployment, as a Dockerfile and the files of its build context.

Rendering is apart from building (``targets/docker/engine.py`` builds): this module only
decides what goes where, so the same image is produced for the ``docker`` target and for
Kubernetes, and the layout is tested without a Docker engine.

The layout is Azure ML's (``CONTRACTS.md``) and comes from ``entities.container_layout``:
model and code are copied to a ``ContainerLayout``'s paths and its variables are baked in,
so the image and the container or pod started from the same layout cannot disagree, and
``mlkube serve --host 0.0.0.0`` is all the image runs.

Layers are ordered from the slowest and most shared to the fastest and most specific:
base image, the environment's virtualenv (a minute of uv: shared by every deployment of
the same environment), mlkube's server wheel (seconds: changes with mlkube's source),
then model, code and settings (copies: change with every deployment).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import re
import stat
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from mlkube.entities.container_layout import (
    APP_ROOT,
    SERVER_PORT,
    UNREGISTERED_VERSION,
    ContainerLayout,
    build_layout,
)
from mlkube.environments import import_bytecode
from mlkube.environments.resolved import ResolvedEnvironment
from mlkube.environments.server_package import is_server_requirement, server_requirement
from mlkube.errors import RequiredLocalArtifactsNotFoundError, ValidationError

#: The base image used when the environment names none: Debian with python3 and venv,
#: made from Debian packages by .ci/base-image.sh (it is on no registry).
#: ``MLKUBE_BASE_IMAGE`` names another (any image with python3 and its venv module).
DEFAULT_BASE_IMAGE = "mlkube-base:bookworm"
BASE_IMAGE_VARIABLE = "MLKUBE_BASE_IMAGE"
#: Where the environment's virtualenv lives inside the image.
VENV_DIR = PurePosixPath("/opt/mlkube/env")
#: The unprivileged user the server runs as (Kubernetes' runAsNonRoot needs a uid).
RUN_AS_UID = 1000
#: What the container runs: everything else comes from the environment variables.
SERVER_COMMAND = ("mlkube", "serve", "--host", "0.0.0.0")

BUILD_DIR = PurePosixPath("/opt/mlkube/build")
#: The installer of the environment layer, pinned so a layer is rebuilt the same way.
UV_REQUIREMENT = "uv==0.13.8"
_UV_BOOTSTRAP = PurePosixPath("/tmp/mlkube-uv")
_BYTECODE_SCRIPT = "import_bytecode.py"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SKIPPED_NAMES = {"__pycache__", ".git", ".ipynb_checkpoints", ".DS_Store"}

#: A file of the build context: its bytes, or the file on disk to read them from.
ContextFile = bytes | Path


@dataclass(frozen=True)
class BuildContext:
    """A Dockerfile and the files beside it, keyed by POSIX path inside the context."""

    dockerfile: str
    files: Mapping[str, ContextFile] = field(default_factory=dict)
    #: The environment variables the image sets, for callers that show or check them.
    environment: Mapping[str, str] = field(default_factory=dict)
    #: What each Dockerfile instruction is for, in order (the engine's "Step N/M"), so
    #: that a failed build names the part of the image that broke.
    steps: tuple[str, ...] = ()
    #: The image the Dockerfile starts FROM.
    base_image: str = ""
    #: True when the base image is mlkube's own default, which no registry serves.
    default_base_image: bool = False
    #: Where the image holds model and code: what a container of it must be started with.
    layout: ContainerLayout | None = None

    def all_files(self) -> dict[str, ContextFile]:
        """Every file of the context, the Dockerfile included."""
        return {"Dockerfile": self.dockerfile.encode(), **self.files}

    @property
    def content_hash(self) -> str:
        """A digest of everything in the context (reads the files on disk): the image's
        tag, so an unchanged deployment is never rebuilt."""
        digest = hashlib.sha256()
        for name, content in sorted(self.all_files().items()):
            executable = isinstance(content, Path) and _is_executable(content)
            digest.update(f"{name}\0{_size(content)}\0{int(executable)}\0".encode())
            if isinstance(content, bytes):
                digest.update(content)
            else:
                with content.open("rb") as source:  # models can be gigabytes: stream
                    for block in iter(lambda: source.read(1 << 20), b""):
                        digest.update(block)
        return digest.hexdigest()[:20]

    def write_tar(self, fileobj: IO[bytes]) -> None:
        """Write the context as the tar stream the Docker Engine's build API takes.

        Metadata is normalised (owner root, fixed mtime) so that the same content always
        gives the same archive and the engine's layer cache recognises it.
        """
        with tarfile.open(fileobj=fileobj, mode="w|") as archive:
            for name, content in sorted(self.all_files().items()):
                info = tarfile.TarInfo(name)
                info.size = _size(content)
                executable = isinstance(content, Path) and _is_executable(content)
                info.mode = 0o755 if executable else 0o644
                info.mtime = 0
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                if isinstance(content, bytes):
                    archive.addfile(info, io.BytesIO(content))
                else:
                    with content.open("rb") as source:
                        archive.addfile(info, source)


def render_build_context(
    environment: ResolvedEnvironment,
    server_wheel: Path,
    *,
    model_path: Path | None = None,
    model_name: str = "model",
    model_version: str = UNREGISTERED_VERSION,
    code_path: Path | None = None,
    scoring_script: str | None = None,
    ca_bundle: Path | None = None,
    environment_variables: Mapping[str, str] | None = None,
    layout: ContainerLayout | None = None,
    data: Mapping[str, Path] | None = None,
) -> BuildContext:
    """The build context of one deployment's image.

    ``model_path`` is the model's folder (or file) as registered; it appears under its
    own name inside ``AZUREML_MODEL_DIR``. ``code_path`` + ``scoring_script`` (relative
    to the code folder) select entry-script mode; without them the server scores the
    MLflow model directly. ``ca_bundle`` is trusted by pip during the build only (for
    TLS-intercepting proxies); it is not the image's trust store at run time.
    ``environment_variables`` are baked into the image: configuration, never secrets
    (pass those when the container is started). ``layout`` (a target's
    ``PreparedDeployment.container_layout()``) replaces ``model_name``, ``model_version``
    and ``scoring_script``, so the container is started with the layout the image has.
    ``data`` maps absolute paths inside the image to local files or folders copied there
    (a command job's inputs), after the model and before the code.

    Reads the folders' listings but writes nothing.
    """
    variables = dict(environment_variables or {})
    _check_variables(variables)
    if scoring_script and code_path is None:
        raise ValidationError(
            f"A scoring script ({scoring_script}) was given without a code folder.",
            hint="Set code_configuration.code to the folder that holds the script.",
        )
    files: dict[str, ContextFile] = {}
    requirements_text = _requirements_file(environment)
    files["mlkube-build/requirements.txt"] = requirements_text.encode()
    files[f"mlkube-build/{_BYTECODE_SCRIPT}"] = Path(import_bytecode.__file__)
    if ca_bundle is not None:
        files["mlkube-build/ca-bundle.pem"] = _existing(ca_bundle, what="CA bundle")
    files[f"mlkube-build/{server_wheel.name}"] = _existing(server_wheel, what="server wheel")

    if model_path is not None:
        model_path = _existing(model_path, what="model")
    if layout is None:
        layout = build_layout(
            model_name=_path_segment(model_name), model_version=_path_segment(model_version),
            model_folder=model_path.name if model_path is not None else None,
            mlflow_model=model_path is not None and (model_path / "MLmodel").is_file(),
            code_folder=code_path.name if code_path is not None else None,
            scoring_script=scoring_script)
    elif layout.entry_script and layout.code_dir:
        # The script's path in the code folder, which the checks below look for.
        scoring_script = posixpath.relpath(
            posixpath.join(layout.app_root, layout.entry_script), layout.code_dir)
    model_dir = PurePosixPath(layout.model_dir or f"{APP_ROOT}/azureml-models/model/"
                              f"{UNREGISTERED_VERSION}")
    copies: list[tuple[str, PurePosixPath]] = []
    if model_path is not None:
        copies.append((f"model/{model_path.name}", model_dir / model_path.name))
        model_files = _tree(model_path, f"model/{model_path.name}")
        if not model_files:
            raise RequiredLocalArtifactsNotFoundError(
                f"The model folder {model_path} holds no files.",
                hint="Point the model at the folder that holds the model's files (for an "
                "MLflow model, the folder with the MLmodel file).",
            )
        files.update(model_files)
    for index, (destination, source) in enumerate(sorted((data or {}).items())):
        source = _existing(source, what="input")
        prefix = f"data/{index}" + (f"/{source.name}" if source.is_file() else "")
        copies.append((prefix, _image_path(destination)))
        files.update(_tree(source, prefix))

    if code_path is not None:
        code_path = _existing(code_path, what="code folder")
        if not code_path.is_dir():
            raise RequiredLocalArtifactsNotFoundError(
                f"The code folder {code_path} is a file, not a folder.",
                hint="Set code_configuration.code to the folder holding the scoring script.",
            )
        copies.append((f"code/{code_path.name}", PurePosixPath(layout.code_dir or APP_ROOT)))
        files.update(_tree(code_path, f"code/{code_path.name}"))
        if scoring_script:
            script = PurePosixPath(scoring_script.replace("\\", "/"))
            if script.is_absolute() or ".." in script.parts:
                raise ValidationError(
                    f"The scoring script path {scoring_script} leaves the code folder.",
                    hint="Give the script relative to the code folder, e.g. score.py.",
                )
            if not (code_path / script).is_file():
                raise RequiredLocalArtifactsNotFoundError(
                    f"The scoring script {scoring_script} is not in the code folder "
                    f"{code_path}.",
                    hint="Check code_configuration.scoring_script: it is relative to "
                    "code_configuration.code.",
                )
    # The model's v2 name and version are said where a container starts, not baked.
    image_env = {**layout.environment(identity=False), **variables}
    if "AZUREML_MODEL_DIR" not in image_env:
        # A deployment with code only still gets the (empty) model folder's variable.
        image_env = {"AZUREML_MODEL_DIR": str(model_dir), **image_env}

    base_image = environment.image or default_base_image()
    dockerfile, steps = _dockerfile(
        base_image=base_image,
        python_version=environment.python_version,
        wheel_name=server_wheel.name,
        has_ca_bundle=ca_bundle is not None,
        copies=copies,
        image_env=image_env,
        workdir=layout.app_root,
    )
    return BuildContext(dockerfile=dockerfile, files=files, environment=image_env, steps=steps,
                        base_image=base_image, default_base_image=not environment.image,
                        layout=layout)


def default_base_image() -> str:
    """The base image of environments that name none (``MLKUBE_BASE_IMAGE`` or
    ``mlkube-base:bookworm``)."""
    return os.environ.get(BASE_IMAGE_VARIABLE, "").strip() or DEFAULT_BASE_IMAGE


def _dockerfile(
    *,
    base_image: str,
    python_version: str | None,
    wheel_name: str,
    has_ca_bundle: bool,
    copies: list[tuple[str, PurePosixPath]],
    image_env: Mapping[str, str],
    workdir: str,
) -> tuple[str, tuple[str, ...]]:
    """The Dockerfile's text and one title per instruction (the engine's "Step N/M"),
    so a failed build can say which part of the image broke."""
    pip_env = (
        f"PIP_CERT={BUILD_DIR}/ca-bundle.pem SSL_CERT_FILE={BUILD_DIR}/ca-bundle.pem "
        if has_ca_bundle
        else ""
    )
    lines: list[str] = []
    titles: list[str] = []

    def add(instruction: str, title: str) -> None:
        lines.append(instruction)
        titles.append(title)

    lines.append("# Rendered by mlkube: re-rendered on every deployment, do not edit.")
    add(f"FROM {base_image}", f"start from the base image {base_image}")
    add("ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8 \\\n"
        "    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1",
        "set Python's build settings")
    lines.append("# The server runs unprivileged; Kubernetes' runAsNonRoot checks the numeric uid.")
    add(f"RUN id -u {RUN_AS_UID} >/dev/null 2>&1 || useradd --uid {RUN_AS_UID} --user-group "
        "--create-home --shell /bin/sh mlkube",
        f"create the unprivileged user {RUN_AS_UID} (the base image needs useradd)")
    add(f"RUN {_python_check(python_version)}",
        "check the base image's Python"
        + (f" (the environment needs {_major_minor(python_version)})" if python_version else ""))
    lines += ["", "# The environment: shared by every deployment that uses it."]
    if has_ca_bundle:
        add(f"COPY mlkube-build/ca-bundle.pem {BUILD_DIR}/ca-bundle.pem",
            "copy the CA bundle for pip")
    add(f"COPY mlkube-build/requirements.txt mlkube-build/{_BYTECODE_SCRIPT} {BUILD_DIR}/",
        "copy the environment's requirements")
    # uv installs the same requirements several times faster than pip (parallel
    # downloads, no per-package subprocess). It is put in a throwaway folder (by the
    # environment's own pip: a second venv would cost another ensurepip) removed in the
    # same step, so it adds nothing to the layer; where it cannot be installed (an
    # unusual platform), pip does the job as before. Then the bytecode of what the
    # requirements' imports load is written into the layer (import_bytecode.py).
    uv = _UV_BOOTSTRAP / "bin" / "uv"
    add(f"RUN python3 -m venv {VENV_DIR} \\\n"
        f"    && if {pip_env}{VENV_DIR}/bin/pip install -q --target {_UV_BOOTSTRAP} \\\n"
        f"        {UV_REQUIREMENT}; then \\\n"
        f"      {pip_env}{uv} pip install -r {BUILD_DIR}/requirements.txt \\\n"
        f"        --python {VENV_DIR}/bin/python --no-cache; \\\n"
        f"    else {pip_env}{VENV_DIR}/bin/pip install -r {BUILD_DIR}/requirements.txt \\\n"
        f"        --no-compile; fi \\\n"
        f"    && rm -rf {_UV_BOOTSTRAP} \\\n"
        f"    && PYTHONDONTWRITEBYTECODE= {VENV_DIR}/bin/python \\\n"
        f"        {BUILD_DIR}/{_BYTECODE_SCRIPT} {BUILD_DIR}/requirements.txt",
        "install the environment's requirements (uv pip install -r requirements.txt; "
        "pip install -r where uv cannot be installed)")
    add(f"ENV VIRTUAL_ENV={VENV_DIR} PATH={VENV_DIR}/bin:/usr/local/sbin:/usr/local/bin:"
        "/usr/sbin:/usr/bin:/sbin:/bin", "put the environment on PATH")
    lines += ["", "# mlkube's inference server: changes with mlkube's source only."]
    add(f"COPY mlkube-build/{wheel_name} {BUILD_DIR}/{wheel_name}",
        "copy mlkube's server wheel")
    add(f"RUN {pip_env}pip install " + _shell_quote(server_requirement(BUILD_DIR / wheel_name)),
        "install mlkube's inference server (pip install mlkube[server])")
    # Before the model: every step is a container commit (~0.3 s each on the classic
    # builder), and these are the same for every deployment of the environment, so they
    # are cached layers instead of work on each new model.
    lines += ["", "# How the container runs: the same for every deployment."]
    add(f"USER {RUN_AS_UID}:{RUN_AS_UID}", "switch to the unprivileged user")
    add(f"EXPOSE {SERVER_PORT}", f"expose port {SERVER_PORT}")
    add(f"CMD {json.dumps(list(SERVER_COMMAND))}", "set the command")
    lines += ["", "# The model and code of this deployment."]
    for source, destination in copies:
        # The JSON form: folder names are the user's and may hold spaces.
        what = source.split("/", 1)[0]
        add(f"COPY {json.dumps([source, str(destination)])}",
            f"copy the {'input' if what == 'data' else what} to {destination}")
    add("ENV " + " \\\n    ".join(f"{k}={_env_value(v)}" for k, v in image_env.items()),
        "set the Azure ML environment variables")
    # The code's folder when there is code: it differs between deployments.
    add(f"WORKDIR {workdir}", f"set the working directory {workdir}")
    return "\n".join(lines) + "\n", tuple(titles)


def _major_minor(python_version: str) -> str:
    return ".".join(python_version.split(".")[:2])


def _python_check(python_version: str | None) -> str:
    """A shell command failing with a readable message when the base image's Python is
    not the environment's (compared on major.minor: patch releases are compatible)."""
    if not python_version:
        return "python3 --version"
    wanted = _major_minor(python_version)
    program = (
        f'import sys; v = "%d.%d" % sys.version_info[:2]; sys.exit(None if v == "{wanted}" '
        f'else "The environment needs Python {wanted} but the base image has Python " + v)'
    )
    return f"python3 -c {_shell_quote(program)}"


def _requirements_file(environment: ResolvedEnvironment) -> str:
    """The environment's requirements without mlkube itself: the server is installed in
    its own layer so that a change to mlkube does not reinstall the whole environment."""
    kept = []
    for requirement in environment.requirements:
        line = requirement.strip()
        if not line or line.startswith("#") or is_server_requirement(line):
            continue
        if line.startswith(("-e", "--editable")) or "file:" in line or line.startswith(
            ("./", "../", "/")
        ):
            raise ValidationError(
                f"The requirement {line!r} refers to a file on this machine, which an "
                "image build cannot reach.",
                hint="Publish the package to an index (or build a wheel) and require it by "
                "name and version.",
            )
        kept.append(line)
    return "".join(f"{line}\n" for line in kept)


def _tree(source: Path, prefix: str) -> dict[str, ContextFile]:
    """The files under ``source`` (a folder or one file) keyed under ``prefix``."""
    if source.is_file():
        return {prefix: source}
    files: dict[str, ContextFile] = {}
    for folder, dirnames, filenames in os.walk(source, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_NAMES)
        relative = Path(folder).relative_to(source).as_posix()
        for filename in sorted(filenames):
            if filename in _SKIPPED_NAMES or filename.endswith(".pyc"):
                continue
            key = f"{prefix}/{filename}" if relative == "." else f"{prefix}/{relative}/{filename}"
            files[key] = Path(folder) / filename
    return files


def _existing(path: Path, *, what: str) -> Path:
    resolved = Path(path).expanduser().resolve()
    if not resolved.exists():
        raise RequiredLocalArtifactsNotFoundError(
            f"The {what} {path} does not exist.",
            hint=f"Check the {what}'s path (relative paths in YAML are relative to the "
            "YAML file's folder).",
        )
    return resolved


def _check_variables(variables: Mapping[str, str]) -> None:
    for name, value in variables.items():
        if not _ENV_NAME.match(name):
            raise ValidationError(
                f"environment_variables has an invalid name {name!r}.",
                hint="Use letters, digits and underscores, not starting with a digit.",
            )
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            raise ValidationError(
                f"environment_variables.{name} must be a one-line string.",
                hint="Quote the value in YAML and keep it on one line.",
            )


def _image_path(path: str) -> PurePosixPath:
    image_path = PurePosixPath(path)
    if not image_path.is_absolute() or ".." in image_path.parts:
        raise ValidationError(f"{path!r} is not an absolute path inside the image.",
                              hint="Name where files go in the image from its root, e.g. "
                                   "/var/azureml-app/inputs/data.")
    return image_path


def _path_segment(value: str) -> str:
    if not value or "/" in value or "\\" in value or value in (".", ".."):
        raise ValidationError(
            f"{value!r} cannot be used as a folder name in the image.",
            hint="Model names and versions must not be empty or contain slashes.",
        )
    return value


def _env_value(value: str) -> str:
    """A Dockerfile ENV value: double-quoted, with the characters the builder would
    interpret (quote, backslash, $ substitution) escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _size(content: ContextFile) -> int:
    return len(content) if isinstance(content, bytes) else content.stat().st_size


def _is_executable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXUSR)

