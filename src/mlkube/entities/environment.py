"""The Environment entity: a base image plus the packages a model or job needs."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from mlkube.entities.base import SpecPath
from mlkube.entities.sdk_resource import SdkResource


class BuildContext(SdkResource):
    """A Docker build context (Azure ML's ``build``): a folder with a Dockerfile."""

    path: SpecPath
    dockerfile_path: str = "Dockerfile"


class Environment(SdkResource):
    """An environment, as in Azure ML v2: ``Environment(image=..., conda_file=...)``.

    mlkube resolves it to a Python version and a pip requirement set (conda-only
    dependencies are reported by name), adds its inference server, and materialises it as
    a cached virtualenv (local) or an image layer (docker, kubernetes).
    ``pip_requirements`` is mlkube's addition: a list of requirement lines, or the path of
    a requirements.txt, for environments that need no conda file.
    """

    name: str | None = None
    version: str | None = None
    description: str | None = None
    image: str | None = None
    conda_file: SpecPath | dict[str, Any] | None = None
    pip_requirements: list[str] | SpecPath | None = None
    build: BuildContext | None = None
    python_version: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    properties: dict[str, str] = Field(default_factory=dict)
    os_type: str = "Linux"
    inference_config: dict[str, Any] | None = None
    # Read-only, set by the workspace.
    id: str | None = None
    creation_context: dict[str, str] | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> object:
        # YAML writes `version: 1`; versions are strings everywhere else.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value
