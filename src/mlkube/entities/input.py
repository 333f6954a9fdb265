"""Job inputs and outputs, as Azure ML v2 writes them: ``Input(type="uri_file", path=...)``.

A job input is a file or folder (a local path or an http(s) URL, downloaded before the job
starts), a registered model, or a literal value (string, number, boolean) that is
substituted into the command as text.
"""

from __future__ import annotations

from typing import Literal

from mlkube.entities.base import SpecPath
from mlkube.entities.sdk_resource import SdkResource

PATH_TYPES = ("uri_file", "uri_folder", "mlflow_model", "custom_model")
LITERAL_TYPES = ("string", "integer", "number", "boolean")

InputType = Literal["uri_file", "uri_folder", "mlflow_model", "custom_model", "string",
                    "integer", "number", "boolean"]


class Input(SdkResource):
    """A job input: ``Input(type="uri_file", path="./iris.csv")`` or
    ``Input(type="number", default=0.1)``.

    ``path`` is a local path (relative to the YAML file that names it, or to the current
    folder), an http(s) URL, or a registered model (``azureml:name:version``,
    ``models:/name/version``). ``mode`` is accepted for Azure ML compatibility; locally
    every input is a path on disk (as ``download`` mode).
    """

    type: InputType = "uri_folder"
    path: SpecPath | None = None
    default: str | bool | int | float | None = None
    mode: str | None = None
    optional: bool = False
    description: str | None = None

    @property
    def is_literal(self) -> bool:
        return self.type in LITERAL_TYPES


class Output(SdkResource):
    """A job output folder: ``${{outputs.name}}`` in the command is a folder whose content
    is kept as the job's artifacts under ``name`` (``jobs:/<job>/outputs/artifacts/paths/
    <name>``)."""

    type: Literal["uri_folder", "uri_file", "mlflow_model", "custom_model"] = "uri_folder"
    path: str | None = None
    mode: str | None = None
    description: str | None = None
