"""Online deployments: a model, its environment and optional code, run behind an endpoint.

As in Azure ML v2, ``ManagedOnlineDeployment`` and ``KubernetesOnlineDeployment`` share
one base and ``load_online_deployment`` reads the CLI v2 YAML (``type: kubernetes`` picks
the Kubernetes class). ``model`` is a ``Model``, a registered reference (``name:version``,
``azureml:name:version``, ``name@latest``) or a local path; a relative path in YAML is
resolved against the YAML file's folder, as the Azure ML CLI does.

``follow_model_label: true`` (mlkube's addition; Azure's YAML has no such field and loads
unchanged) asks the registry watcher (``operations.registry_watcher``) to roll the
deployment out again whenever its model's label or alias names another version;
``served_model`` and ``label_rollout`` say what serves and what the watcher last did.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from mlkube.entities.base import is_uri, read_spec_file
from mlkube.entities.code_configuration import CodeConfiguration
from mlkube.entities.deployment_settings import (
    DefaultScaleSettings,
    OnlineRequestSettings,
    ProbeSettings,
    ResourceRequirementsSettings,
    ScaleSettings,
    TargetUtilizationScaleSettings,
)
from mlkube.entities.environment import Environment
from mlkube.entities.instance_types import (
    InstanceResources,
    InstanceType,
    find_instance_type,
    unknown_instance_type,
)
from mlkube.entities.model import Model
from mlkube.entities.online_endpoint import check_resource_name
from mlkube.entities.rollout import LabelRollout
from mlkube.entities.sdk_resource import SdkResource, rule_error

# `azureml:iris:3`, `iris:3`, `azureml:iris@latest`, `iris@latest`.
_REFERENCE = re.compile(
    r"^(?:azureml:)?(?P<name>[A-Za-z0-9_][A-Za-z0-9_.-]*)"
    r"(?::(?P<version>[A-Za-z0-9_.-]+)|@(?P<label>[A-Za-z0-9_.-]+))$"
)
# Kubernetes' rule for environment variable names.
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


@dataclass(frozen=True)
class AssetReference:
    """A registered model or environment named by ``name:version`` or ``name@label``."""

    name: str
    version: str | None = None
    label: str | None = None

    def __str__(self) -> str:
        return f"{self.name}:{self.version}" if self.version else f"{self.name}@{self.label}"


def parse_asset_reference(value: str) -> AssetReference | None:
    """The reference ``value`` spells, or None when it is a path or another kind of URI."""
    match = _REFERENCE.match(value)
    if match is None:
        return None
    return AssetReference(match["name"], match["version"], match["label"])


def _env_value(value: Any) -> Any:
    # YAML reads `false` and `3` as bool and int; the process sees text, spelled as written.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return ""
    return value


#: Fields the target that runs a deployment fills in: never stored, never taken from a spec.
READ_ONLY_FIELDS = ("provisioning_state", "provisioning_error", "id", "current_instances",
                    "desired_instances")


class OnlineDeployment(SdkResource):
    """What both kinds of deployment share (Azure ML's ``OnlineDeployment``)."""

    name: str
    endpoint_name: str | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    properties: dict[str, str] = Field(default_factory=dict)
    model: Model | str | None = None
    code_configuration: CodeConfiguration | None = None
    #: Optional for MLflow models: mlkube builds it from the model's own requirements.
    environment: Environment | str | None = None
    environment_variables: dict[str, str] = Field(default_factory=dict)
    instance_type: str | None = None
    instance_count: int = Field(1, ge=1, le=1000)
    request_settings: OnlineRequestSettings = Field(default_factory=OnlineRequestSettings)
    liveness_probe: ProbeSettings = Field(default_factory=ProbeSettings)
    readiness_probe: ProbeSettings = Field(default_factory=ProbeSettings)
    scale_settings: ScaleSettings = Field(default_factory=DefaultScaleSettings)
    # Accepted for Azure ML YAML; mlkube has no use for them.
    app_insights_enabled: bool = False
    egress_public_network_access: Literal["enabled", "disabled"] | None = None
    data_collector: dict[str, Any] | None = None
    # Read-only, filled in by the target that runs the deployment.
    provisioning_state: str | None = None
    #: Why the deployment is ``Failed`` (the cause its create or update reported), where
    #: the target keeps it; None otherwise.
    provisioning_error: str | None = None
    id: str | None = None
    #: The registered model version actually served (``iris:3`` for ``iris@latest`` or an
    #: alias), resolved when the deployment was created or updated.
    served_model: str | None = None
    #: What ``instance_type`` became where the deployment runs (CPU and memory limits, or
    #: not enforced), filled in by the target when the deployment is created or updated.
    instance_resources: InstanceResources | None = None
    #: Roll out again when the model's label or alias (``iris@champion``, ``@latest``,
    #: ``models:/iris@champion``) names another version (``mlkube watch-registry``).
    follow_model_label: bool = False
    #: What the registry watcher last did for a following deployment, kept with the spec.
    label_rollout: LabelRollout | None = None
    #: Instances serving now, and how many the deployment's scaling wants (they differ
    #: while instances start or drain; 0 and 0 when it scaled to zero). Read-only.
    current_instances: int | None = None
    desired_instances: int | None = None

    def stored_spec(self) -> dict[str, Any]:
        """The spec a target stores: the read-only fields are the target's to fill in."""
        return {k: v for k, v in self.to_dict().items() if k not in READ_ONLY_FIELDS}

    @model_validator(mode="before")
    @classmethod
    def _azure_shortcuts(cls, data: Any) -> Any:
        # Azure ML's constructor takes code_path= and scoring_script= instead of a
        # CodeConfiguration; its YAML may spell the probes' and scale's blocks as null.
        if not isinstance(data, dict):
            return data
        data = dict(data)
        code_path = data.pop("code_path", None)
        scoring_script = data.pop("scoring_script", None)
        if isinstance(data.get("model"), dict) and isinstance(data["model"].get("version"), int):
            # Azure YAML writes `version: 1`; versions are text everywhere else.
            data["model"] = {**data["model"], "version": str(data["model"]["version"])}
        if data.get("code_configuration") is None and (code_path or scoring_script):
            data["code_configuration"] = {"code": code_path, "scoring_script": scoring_script}
        for key in ("request_settings", "liveness_probe", "readiness_probe", "scale_settings",
                    "environment_variables", "tags", "properties"):
            if key in data and data[key] is None:
                del data[key]
        return data

    @field_validator("name")
    @classmethod
    def _name_rule(cls, value: str) -> str:
        return check_resource_name(value, kind="deployment", min_length=1)

    @field_validator("endpoint_name")
    @classmethod
    def _endpoint_name_rule(cls, value: str | None) -> str | None:
        return None if value is None else check_resource_name(value, kind="endpoint")

    @field_validator("model", mode="before")
    @classmethod
    def _model_path(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str) or not value.strip():
            return value
        if is_uri(value) or parse_asset_reference(value) is not None:
            return value
        # Anything else is a local path: resolve it against the YAML that named it.
        expanded = os.path.expanduser(value)
        base = (info.context or {}).get("base_path")
        if base is not None and not os.path.isabs(expanded):
            return str(Path(base, expanded))
        return expanded

    @field_validator("instance_type")
    @classmethod
    def _known_instance_type(cls, value: str | None) -> str | None:
        # Found now, with a did-you-mean, rather than when a target sizes instances.
        if value is not None and find_instance_type(value) is None:
            raise rule_error(unknown_instance_type(value))
        return value

    @field_validator("environment_variables", mode="before")
    @classmethod
    def _env_rule(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        for name in value:
            if not isinstance(name, str) or not _ENV_NAME.match(name):
                raise rule_error(f"environment variable name {name!r} is not valid; use "
                                 "letters, digits, '_', '-' and '.', not starting with a digit")
        return {name: _env_value(item) for name, item in value.items()}

    @model_validator(mode="after")
    def _probe_and_source_rules(self) -> OnlineDeployment:
        if self.liveness_probe.success_threshold != 1:
            raise rule_error(
                f"liveness_probe.success_threshold is {self.liveness_probe.success_threshold}; "
                "a liveness probe succeeds on one answer (Kubernetes requires 1): set it to 1")
        if self.model is None and self.code_configuration is None:
            raise rule_error("the deployment has neither a model nor a code_configuration; "
                             "give model: (a registered name:version or a local path), and a "
                             "code_configuration if the model needs a scoring script")
        return self

    @property
    def model_reference(self) -> AssetReference | None:
        """The registered model this deployment names, if it names one."""
        if isinstance(self.model, Model) and self.model.name and self.model.version:
            return AssetReference(self.model.name, self.model.version)
        if isinstance(self.model, str):
            return parse_asset_reference(self.model)
        return None

    @property
    def instance_size(self) -> InstanceType | None:
        """The Azure VM size ``instance_type`` names (None when it names none)."""
        return find_instance_type(self.instance_type) if self.instance_type else None

    @property
    def max_instances(self) -> int:
        """The most inference-server instances this deployment can run at once."""
        if isinstance(self.scale_settings, TargetUtilizationScaleSettings):
            return self.scale_settings.max_instances
        return self.instance_count

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<spec>",
                  base_path: str | None = None) -> Any:
        """Validate ``data``; on the base class, pick the subclass as Azure ML does."""
        if cls is OnlineDeployment:
            return deployment_class(data).from_dict(data, source=source, base_path=base_path)
        if isinstance(data.get("type"), str):
            data = {**data, "type": data["type"].lower()}
        return super().from_dict(data, source=source, base_path=base_path)


class ManagedOnlineDeployment(OnlineDeployment):
    """A deployment sized by ``instance_type`` (Azure ML's managed kind)."""

    type: Literal["managed"] = "managed"


class KubernetesOnlineDeployment(OnlineDeployment):
    """A deployment with Kubernetes ``resources`` (requests and limits, GPUs included)."""

    type: Literal["kubernetes"] = "kubernetes"
    resources: ResourceRequirementsSettings | None = None


def deployment_class(data: dict[str, Any]) -> type[OnlineDeployment]:
    """``KubernetesOnlineDeployment`` for ``type: kubernetes`` (or a ``resources`` block),
    else ``ManagedOnlineDeployment``."""
    kind = str(data.get("type") or "").lower()
    if kind == "kubernetes" or (not kind and "resources" in data):
        return KubernetesOnlineDeployment
    return ManagedOnlineDeployment


def load_online_deployment(
    source: str | os.PathLike[str], *, overrides: list[str] | None = None,
    params_override: list[dict[str, Any]] | None = None,
) -> OnlineDeployment:
    """Read a deployment YAML file (Azure ML's ``load_online_deployment``).

    ``overrides`` are CLI ``--set field=value`` strings; ``params_override`` is Azure ML's
    list of ``{field: value}`` mappings.
    """
    data = read_spec_file(source, overrides=overrides, params_override=params_override)
    return OnlineDeployment.from_dict(
        data, source=str(source), base_path=str(Path(source).parent)
    )
