"""A command job's inputs, made into the values its command line is given.

Literal inputs become their text; a local ``uri_file`` / ``uri_folder`` stays the path
it names; an http(s) URL is downloaded and a registered model fetched into the job's
folder, so the command always reads a local path. The job runner does this on the
machine that runs the command; a job on Kubernetes does it on the submitting machine and
carries the paths into its image (``kubernetes_jobs``), so both read their inputs alike.
"""

from __future__ import annotations

import shutil
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlkube.entities.input import PATH_TYPES
from mlkube.entities.job import literal_text
from mlkube.errors import MlkubeError

if TYPE_CHECKING:
    from mlkube.workspace.workspace import Workspace

DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class JobInputValues:
    """The inputs that were given, as the command line receives them."""

    #: Input name -> the text substituted for ``${{inputs.<name>}}``.
    values: dict[str, str] = field(default_factory=dict)
    #: Input name -> the file or folder on this machine, for the inputs that are paths.
    paths: dict[str, Path] = field(default_factory=dict)


def fetch_inputs(inputs: Mapping[str, Any], *, folder: Path, workspace: Workspace,
                 say: Callable[[str], None]) -> JobInputValues:
    """``inputs`` as stored with the job (literals, or Input dicts with checked paths),
    with URLs and registered models fetched under ``folder / "inputs"``."""
    values: dict[str, str] = {}
    paths: dict[str, Path] = {}
    for key, value in inputs.items():
        if not isinstance(value, dict):
            values[key] = literal_text(value)
            continue
        kind = value.get("type", "uri_folder")
        path = value.get("path")
        if kind not in PATH_TYPES:
            if value.get("default") is not None:
                values[key] = literal_text(value["default"])
            continue
        if not path:
            continue
        target = folder / "inputs" / key
        if path.startswith(("http://", "https://")):
            local = download_url(key, path, kind=kind, target_dir=target, say=say)
        elif path.startswith(("azureml:", "models:/")):
            local = download_model(workspace, key, path, target_dir=target, say=say)
        else:
            local = Path(path)
        values[key] = str(local)
        paths[key] = local
    return JobInputValues(values=values, paths=paths)


def download_url(key: str, url: str, *, kind: str, target_dir: Path,
                 say: Callable[[str], None]) -> Path:
    """Download ``url`` into ``target_dir``; the file for a uri_file, else the folder."""
    target_dir.mkdir(parents=True, exist_ok=True)
    filename = Path(urllib.parse.urlparse(url).path).name or "data"
    target = target_dir / filename
    say(f"downloading input {key} from {url}")
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, \
                open(target, "wb") as out:
            shutil.copyfileobj(response, out)
    except Exception as error:  # any download failure fails the job
        raise MlkubeError(f"Input {key!r}: downloading {url} failed: {error}",
                          hint="Check the URL is reachable from this machine.") from None
    return target if kind == "uri_file" else target_dir


def download_model(workspace: Workspace, key: str, reference: str, *, target_dir: Path,
                   say: Callable[[str], None]) -> Path:
    """Fetch the registered model ``reference`` (``azureml:name:version``, ``models:/``)
    into ``target_dir``; returns the model's folder."""
    from mlkube.operations.models import ModelOperations

    text = reference.removeprefix("azureml:").removeprefix("models:/")
    name, _, version = text.replace("/", ":").partition(":")
    label = None
    if "@" in name:
        name, label = name.split("@", 1)
    say(f"downloading input {key}: model {name} {version or label or 'latest'}")
    return ModelOperations(workspace).download(name, version=version or None,
                                               download_path=target_dir)
