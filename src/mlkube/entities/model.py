"""The Model entity: a registered MLflow model version or a folder of files."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from mlkube.entities.base import SpecPath
from mlkube.entities.sdk_resource import SdkResource


class Model(SdkResource):
    """A model, as in Azure ML v2: ``Model(path=..., type="mlflow_model", name=...)``.

    ``path`` is a local folder or file, a job output (``jobs:/<job>/outputs/artifacts/
    paths/model``, ``azureml://jobs/...``), a run artifact (``runs:/<run>/model``) or a
    registry URI (``models:/<name>/<version>``). Read-only fields are filled in by the
    workspace when the model is registered or fetched.
    """

    name: str | None = None
    version: str | None = None
    type: Literal["mlflow_model", "custom_model"] = "custom_model"
    path: SpecPath | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    properties: dict[str, str] = Field(default_factory=dict)
    # Read-only, set by the workspace.
    id: str | None = None
    creation_context: dict[str, str] | None = None
    job_name: str | None = None

    @property
    def reference(self) -> str:
        """``name:version``, the way deployments refer to a registered model."""
        return f"{self.name}:{self.version}"

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> object:
        # YAML writes `version: 1`; versions are strings everywhere else.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value
