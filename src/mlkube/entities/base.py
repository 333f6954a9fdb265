"""What every spec entity shares: keyword construction as in Azure ML's SDK, loading from
Azure ML v2 YAML, and validation errors that name the file, the field and the rule.

Entities are pydantic models. A field typed ``SpecPath`` holds a local path or a URI; a
relative path read from a YAML file is resolved against that file's folder, as the
Azure ML CLI does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pydantic
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo

from mlkube.errors import RequiredLocalArtifactsNotFoundError, ValidationError

R = TypeVar("R", bound="Resource")

# Values that name something other than a local path are kept as written.
_URI_PREFIXES = ("azureml:", "http://", "https://", "runs:/", "models:/", "jobs:/", "s3://",
                 "gs://", "wasbs://", "abfss://", "file://", "mlflow-artifacts:")


def is_uri(value: str) -> bool:
    """True when ``value`` names a registered asset or a remote location, not a local path."""
    return value.startswith(_URI_PREFIXES)


def _resolve_against_spec_file(value: str | None, info: ValidationInfo) -> str | None:
    if value is None or is_uri(value):
        return value
    base = (info.context or {}).get("base_path")
    expanded = os.path.expanduser(value)
    if base is not None and not os.path.isabs(expanded):
        return str(Path(base, expanded))
    return expanded


#: A local path (resolved against the YAML file that named it) or a URI, kept as a string.
SpecPath = Annotated[str, AfterValidator(_resolve_against_spec_file)]


class Resource(BaseModel):
    """Base of all spec entities (Model, Environment, OnlineEndpoint, ...)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        validate_assignment=True,
        arbitrary_types_allowed=True,
    )

    @classmethod
    def from_dict(
        cls: type[R], data: dict[str, Any], *, source: str = "<spec>", base_path: str | None = None
    ) -> R:
        """Validate ``data``; errors name ``source`` and every bad field."""
        data = {k: v for k, v in data.items() if k != "$schema"}
        try:
            return cls.model_validate(data, context={"base_path": base_path})
        except pydantic.ValidationError as error:
            raise validation_error(error, source=source, kind=cls.__name__) from None

    @classmethod
    def from_yaml(
        cls: type[R], path: str | os.PathLike[str], *, overrides: list[str] | None = None
    ) -> R:
        """Load an Azure ML v2 style YAML file, applying ``--set key.sub=value`` overrides."""
        data = read_spec_file(path, overrides=overrides)
        return cls.from_dict(data, source=str(path), base_path=str(Path(path).parent))

    def to_dict(self) -> dict[str, Any]:
        """The spec as YAML-ready data, without unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def dump(self, dest: str | os.PathLike[str]) -> None:
        """Write the spec as YAML."""
        Path(dest).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def load_yaml_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping, with errors that name the file."""
    file = Path(path)
    if not file.is_file():
        raise RequiredLocalArtifactsNotFoundError(
            f"Spec file {file} does not exist.", hint="Check the path given with -f/--file."
        )
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ValidationError(
            f"{file} is not valid YAML{where}: {problem}.",
            hint="Fix the YAML syntax (indentation, quotes, colons) at that place.",
        ) from None
    if not isinstance(data, dict):
        raise ValidationError(
            f"{file} must hold a mapping of fields (name: ..., ...), not {type(data).__name__}.",
            hint="See the Azure ML v2 YAML reference for the fields of this kind of spec.",
        )
    return data


def read_spec_file(
    path: str | os.PathLike[str], *, overrides: list[str] | None = None,
    params_override: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A spec file's fields with the caller's changes applied: CLI ``--set field=value``
    strings (``overrides``) and Azure ML's ``params_override`` list of mappings."""
    data = load_yaml_mapping(path)
    data.pop("$schema", None)
    for assignment in overrides or []:
        apply_set(data, assignment)
    for override in params_override or []:
        data.update(override)
    return data


def apply_set(data: dict[str, Any], assignment: str) -> None:
    """Apply one CLI ``--set path.to.field=value`` (value parsed as YAML) to ``data``."""
    if "=" not in assignment:
        raise ValidationError(
            f"--set {assignment!r} has no '='.", hint="Write --set field.subfield=value."
        )
    dotted, raw = assignment.split("=", 1)
    keys = [k for k in dotted.strip().split(".") if k]
    if not keys:
        raise ValidationError(
            f"--set {assignment!r} names no field.", hint="Write --set field=value."
        )
    target = data
    for key in keys[:-1]:
        nested = target.get(key)
        if not isinstance(nested, dict):
            nested = {}
            target[key] = nested
        target = nested
    target[keys[-1]] = yaml.safe_load(raw) if raw.strip() else ""


def validation_error(
    error: pydantic.ValidationError, *, source: str, kind: str
) -> ValidationError:
    """Turn pydantic's report into one message naming the source, each field and its rule."""
    lines = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(spec)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "is not a known field"
        elif item["type"] == "missing":
            message = "is required"
        lines.append(f"  {field}: {message}")
    return ValidationError(
        f"Invalid {kind} in {source}:\n" + "\n".join(lines),
        hint=f"Fix the fields named above; the {kind} reference lists every field and rule.",
    )
