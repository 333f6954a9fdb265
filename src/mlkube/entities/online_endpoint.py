"""Online endpoints: a stable scoring URI with its auth mode, traffic split and mirror.

As in Azure ML v2, ``ManagedOnlineEndpoint`` and ``KubernetesOnlineEndpoint`` share one
base; ``load_online_endpoint`` reads the CLI v2 YAML (``$schema`` line and all) and picks
the class. mlkube also reads ``compute`` to choose where the endpoint runs: ``local``,
``docker``, or the name of an attached Kubernetes compute (``azureml:`` prefix accepted).
Fields Azure ML accepts but mlkube has no use for (``identity``, ``location``,
``public_network_access``) load without complaint, so Azure YAML needs no edit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from mlkube.entities.base import read_spec_file
from mlkube.entities.sdk_resource import SdkResource, rule_error
from mlkube.errors import ConflictError, ValidationError

#: Azure ML's rule for endpoint names (3-32 characters).
NAME_PATTERN = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
#: Targets mlkube runs on this machine; any other ``compute`` names a Kubernetes compute.
MACHINE_COMPUTES = ("local", "docker")
#: Tokens of aml_token endpoints: valid this long unless the endpoint says otherwise.
DEFAULT_TOKEN_LIFETIME_MINUTES = 60
TOKEN_LIFETIME_MAX_MINUTES = 7 * 24 * 60
#: Azure ML caps the share of traffic copied to a mirror deployment.
MAX_MIRROR_PERCENT = 50
#: Fields the target that runs an endpoint fills in: never stored, never taken from a spec.
READ_ONLY_FIELDS = ("scoring_uri", "openapi_uri", "provisioning_state", "id")
_SHARES = ("traffic", "mirror_traffic")


def check_resource_name(value: str, *, kind: str, min_length: int = 3,
                        max_length: int = 32) -> str:
    """``value`` if it follows Azure ML's name rule for endpoints and deployments."""
    if not min_length <= len(value) <= max_length:
        raise rule_error(f"{kind} name {value!r} has {len(value)} characters; use "
                         f"{min_length} to {max_length}")
    if not NAME_PATTERN.match(value):
        raise rule_error(f"{kind} name {value!r} must start with a letter, hold only letters, "
                         "digits and '-', and end with a letter or digit")
    return value


def _percent_map(value: dict[str, Any], *, field: str) -> dict[str, int]:
    result: dict[str, int] = {}
    for name, percent in value.items():
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
            raise rule_error(f"{field}[{name!r}] is {percent!r}; give a whole percent 0-100")
        check_resource_name(str(name), kind="deployment", min_length=1)
        result[str(name)] = percent
    return result


class OnlineEndpoint(SdkResource):
    """What both kinds of endpoint share (Azure ML's ``OnlineEndpoint``)."""

    name: str
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    properties: dict[str, str] = Field(default_factory=dict)
    auth_mode: Literal["key", "aml_token"] = "key"
    #: Percent of unpinned requests each deployment gets: 0 everywhere, or a sum of 100.
    traffic: dict[str, int] = Field(default_factory=dict)
    #: At most one deployment that gets a copy of up to 50 % of requests.
    mirror_traffic: dict[str, int] = Field(default_factory=dict)
    #: Where the endpoint runs: "local", "docker" or an attached Kubernetes compute.
    compute: str | None = None
    #: mlkube's addition: how long a token of an ``aml_token`` endpoint is valid, in
    #: minutes (default 60, at most a week); refresh is advised at half of it.
    token_lifetime_minutes: int | None = Field(None, ge=1, le=TOKEN_LIFETIME_MAX_MINUTES)
    # Accepted for Azure ML YAML; mlkube has no use for them.
    identity: dict[str, Any] | None = None
    kind: str | None = None
    location: str | None = None
    # Read-only, filled in by the target that runs the endpoint.
    scoring_uri: str | None = None
    openapi_uri: str | None = None
    provisioning_state: str | None = None
    id: str | None = None

    @field_validator("name")
    @classmethod
    def _name_rule(cls, value: str) -> str:
        return check_resource_name(value, kind="endpoint")

    @field_validator("auth_mode", mode="before")
    @classmethod
    def _auth_mode_rule(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        lowered = value.lower()
        if lowered == "aad_token":
            raise rule_error("auth_mode 'aad_token' (Microsoft Entra tokens) needs Azure; use "
                             "'key' (primary/secondary keys) or 'aml_token' (expiring tokens "
                             "that mlkube signs)")
        return lowered

    @field_validator("compute", mode="before")
    @classmethod
    def _compute_name(cls, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("azureml:"):
            return value[len("azureml:"):]
        return value

    @field_validator("traffic", mode="before")
    @classmethod
    def _traffic_rule(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            return value
        traffic = _percent_map(value, field="traffic")
        total = sum(traffic.values())
        if total not in (0, 100):
            raise rule_error(f"traffic adds up to {total} %; make the percentages add up to "
                             "100 (or all 0 to route only by the azureml-model-deployment "
                             "header)")
        return traffic

    @field_validator("mirror_traffic", mode="before")
    @classmethod
    def _mirror_rule(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            return value
        mirror = {name: pct for name, pct in _percent_map(value, field="mirror_traffic").items()
                  if pct > 0}
        if len(mirror) > 1:
            raise rule_error(f"mirror_traffic names {len(mirror)} deployments "
                             f"({', '.join(sorted(mirror))}); mirror to one deployment only")
        for name, pct in mirror.items():
            if pct > MAX_MIRROR_PERCENT:
                raise rule_error(f"mirror_traffic[{name!r}] is {pct} %; mirror at most "
                                 f"{MAX_MIRROR_PERCENT} % of requests")
        return mirror

    # -- the endpoint rules every target keeps ------------------------------------------

    def stored_spec(self, *, previous: OnlineEndpoint | None) -> dict[str, Any]:
        """The spec a target stores: read-only fields dropped; traffic and mirror kept
        from ``previous`` when this spec did not set them (as Azure ML does on update)."""
        spec = {k: v for k, v in self.to_dict().items() if k not in READ_ONLY_FIELDS}
        if previous is not None:
            for field in _SHARES:
                old = getattr(previous, field)
                if field not in self.model_fields_set and old:
                    spec[field] = dict(old)
        return spec

    def showing_deployments(self, deployments: Collection[str]) -> OnlineEndpoint:
        """This endpoint with every deployment in ``traffic``, at 0 when it gets none, as
        Azure ML shows an endpoint (scripts test ``endpoint.traffic.get(name) == 0`` to
        decide whether to route to a new deployment)."""
        shown = {name: self.traffic.get(name, 0) for name in sorted(deployments)}
        shown.update({name: pct for name, pct in self.traffic.items() if pct > 0})
        self.traffic = shown
        return self

    def check_traffic_names(self, deployments: Collection[str]) -> None:
        """Refuse traffic or mirror for a deployment that does not exist."""
        for field in _SHARES:
            for name, percent in getattr(self, field).items():
                if name not in deployments and percent > 0:
                    known = ", ".join(sorted(deployments)) or "none yet"
                    raise ValidationError(
                        f"Endpoint {self.name}'s {field} names deployment {name}, which "
                        f"does not exist (deployments: {known}).",
                        hint="Create the deployment first, then give it traffic (or use "
                        "`mlkube online-deployment create --all-traffic`).")

    def check_deployment_removable(self, deployment: str) -> None:
        """Refuse to remove a deployment that still gets traffic or a mirror share."""
        for field in _SHARES:
            percent = getattr(self, field).get(deployment, 0)
            if percent > 0:
                what = field.replace("_", " ")
                raise ConflictError(
                    f"Deployment {deployment} still gets {percent} % of endpoint "
                    f"{self.name}'s {what}.",
                    hint=f"Move its {what} to another deployment first (endpoint {field}), "
                    "or delete the whole endpoint.")

    def check_keys_regenerable(self) -> None:
        """Refuse to regenerate keys of an endpoint that authenticates with tokens."""
        if self.auth_mode != "key":
            raise ValidationError(
                f"Endpoint {self.name} uses auth_mode {self.auth_mode}; only key-mode "
                "endpoints have keys to regenerate.",
                hint="Tokens expire by themselves: get a fresh one with get_keys / "
                "`mlkube online-endpoint get-credentials`.")

    @property
    def target(self) -> str:
        """Where the endpoint runs: "local", "docker", or "kubernetes"."""
        if self.compute is None or self.compute in MACHINE_COMPUTES:
            return self.compute or "local"
        return "kubernetes"

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<spec>",
                  base_path: str | None = None) -> Any:
        """Validate ``data``; on the base class, pick the subclass as Azure ML does."""
        if cls is OnlineEndpoint:
            return endpoint_class(data).from_dict(data, source=source, base_path=base_path)
        if str(data.get("type") or "").lower() in ("online", "managed", "kubernetes"):
            # Old Azure YAML says "type: online"; the class already says which kind it is.
            data = {k: v for k, v in data.items() if k != "type"}
        return super().from_dict(data, source=source, base_path=base_path)


class ManagedOnlineEndpoint(OnlineEndpoint):
    """An endpoint on this machine (compute ``local`` or ``docker``) or any target."""

    type: Literal["managed"] = "managed"
    public_network_access: Literal["enabled", "disabled"] | None = None


class KubernetesOnlineEndpoint(OnlineEndpoint):
    """An endpoint on an attached Kubernetes cluster, named by ``compute``."""

    type: Literal["kubernetes"] = "kubernetes"


def endpoint_class(data: dict[str, Any]) -> type[OnlineEndpoint]:
    """The entity class a YAML mapping describes: ``type: kubernetes`` or a cluster compute
    make a ``KubernetesOnlineEndpoint``, anything else a ``ManagedOnlineEndpoint``."""
    kind = str(data.get("type") or "").lower()
    compute = str(data.get("compute") or "").removeprefix("azureml:")
    if kind == "kubernetes" or (not kind and compute and compute not in MACHINE_COMPUTES):
        return KubernetesOnlineEndpoint
    return ManagedOnlineEndpoint


def load_online_endpoint(
    source: str | os.PathLike[str], *, overrides: list[str] | None = None,
    params_override: list[dict[str, Any]] | None = None,
) -> OnlineEndpoint:
    """Read an endpoint YAML file (Azure ML's ``load_online_endpoint``).

    ``overrides`` are CLI ``--set field=value`` strings; ``params_override`` is Azure ML's
    list of ``{field: value}`` mappings.
    """
    data = read_spec_file(source, overrides=overrides, params_override=params_override)
    return OnlineEndpoint.from_dict(data, source=str(source), base_path=str(Path(source).parent))
