"""The gateway's config file: the contract between a target and the endpoint's gateway.

Every target (local process, Docker container, Kubernetes Deployment) writes one JSON file
(YAML is accepted too) per endpoint, and the gateway re-reads it when its content changes,
so a traffic shift or a new deployment needs no restart. The file says::

    {
      "endpoint": "iris",                      # the online endpoint's name
      "auth_mode": "key",                      # "key" | "aml_token"
      "traffic": {"blue": 90, "green": 10},    # percent; all 0 or summing to 100
      "mirror_traffic": {"green": 10},         # percent of unpinned POSTs copied there
      "deployments": {
        "blue": {
          "instances": ["http://127.0.0.1:5001", "http://127.0.0.1:5002"],
          "request_timeout_ms": 5000,                      # optional, request_defaults
          "max_concurrent_requests_per_instance": 8,       # optional
          "max_queue_wait_ms": 500,                        # optional
          "state": "Succeeded",                            # optional, see STATES
          "reason": null                                   # optional: why not Succeeded
        },
        "green": {"instances": ["http://green-svc.ns.svc:5001"],  # a Service URL ...
                  "instance_count": 3,                           # ... fronting 3 pods
                  "state": "Updating", "reason": "2 of 3 instances ready"},
        "red": {"instances": [],                  # scaled to zero: requests are held
                "scale_to_zero": {"after_s": 300, "held_limit": 4,
                                  "kubernetes_deployment": null}}   # optional, see below
      }
    }

Loading is a pure function of the text (``load_gateway_config``) that either returns a
``GatewayConfig`` or raises ``ValidationError`` naming the field and the fix; targets can
build a ``GatewayConfig`` in Python and write it with ``dump_gateway_config``.

For targets:

- Write the file atomically (temp file + ``os.replace``); a ConfigMap update is atomic
  already. The gateway notices within ``--reload-interval`` (1 s); a version that does not
  parse is refused and logged, and the gateway keeps serving the last good one.
- ``GatewayConfig.digest`` identifies the content. ``GET /`` on the gateway (no auth)
  answers ``{"status": "Healthy", "engine": "python" | "native", "replica": <host name>,
  "config_digest": ..., "keys_fingerprint": ..., "in_flight": {name: n}}``; with several
  replicas behind a Service, a change is applied once each replica has answered with it.
  Before stopping a deployment that lost its traffic (blue/green), poll until the digest
  is the new one (no new request goes to it from then on) and its ``in_flight`` is 0 or
  absent (the requests it had, queued ones included, have finished).
- A deployment that is not ``Succeeded`` is still routed to if it has instances (a rolling
  update); when none answers, callers get 424 with ``state`` and ``reason``. ``Failed``
  answers 424 at once. A request is tried on each other instance (once) when one refuses
  the connection or answers 503 ``MODEL_NOT_READY`` (a restarting instance); that
  instance is then avoided for a short cool-down.
- ``scale_to_zero`` marks a deployment that stops when idle (``scale_to_zero.py``): a
  request that finds it without a running instance is *held* (up to ``held_limit`` of
  them, 429 past it) until one is ready or ``request_timeout_ms`` passes (503
  ``DEPLOYMENT_STARTING``). Locally the target's autoscaler sees the held requests in
  ``GET /`` and starts an instance; with ``kubernetes_deployment`` the gateway itself
  scales that Deployment (in its own namespace) from 0 and, after ``after_s`` without a
  request, back to 0.
- ``mirror_traffic`` applies to POSTs without the ``azureml-model-deployment`` header; the
  copy goes through the mirror deployment's own capacity and queue (a copy that finds no
  slot in time is dropped and counted, never queued forever).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mlkube import request_defaults
from mlkube.errors import ValidationError

AUTH_MODES = ("key", "aml_token")

#: Azure ML's provisioning states of a deployment. Only ``Succeeded`` means "healthy";
#: the others make the gateway answer 424 when the deployment cannot be reached.
STATES = ("Succeeded", "Creating", "Updating", "Failed", "Deleting", "Canceled")

DEFAULT_REQUEST_TIMEOUT_MS = request_defaults.REQUEST_TIMEOUT_MS
DEFAULT_MAX_CONCURRENT_REQUESTS_PER_INSTANCE = request_defaults.MAX_CONCURRENT_REQUESTS_PER_INSTANCE
DEFAULT_MAX_QUEUE_WAIT_MS = request_defaults.MAX_QUEUE_WAIT_MS

_DEPLOYMENT_FIELDS = {
    "instances",
    "instance_count",
    "request_timeout_ms",
    "max_concurrent_requests_per_instance",
    "max_queue_wait_ms",
    "state",
    "reason",
    "scale_to_zero",
}
_SCALE_TO_ZERO_FIELDS = {"after_s", "held_limit", "kubernetes_deployment"}
_TOP_FIELDS = {"endpoint", "auth_mode", "traffic", "mirror_traffic", "deployments"}


@dataclass(frozen=True)
class ScaleToZero:
    """A deployment that stops when idle and is started again by a request."""

    #: Seconds without a request before its instances stop.
    after_s: float
    #: Requests held at most while it starts; more get 429.
    held_limit: int = 1
    #: The Kubernetes Deployment the gateway scales (None: the target starts instances).
    kubernetes_deployment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"after_s": self.after_s, "held_limit": self.held_limit,
                "kubernetes_deployment": self.kubernetes_deployment}


@dataclass(frozen=True)
class DeploymentRoute:
    """One deployment as the gateway sees it: where its instances listen, and its limits."""

    name: str
    instances: tuple[str, ...]
    request_timeout_ms: int = DEFAULT_REQUEST_TIMEOUT_MS
    max_concurrent_requests_per_instance: int = DEFAULT_MAX_CONCURRENT_REQUESTS_PER_INSTANCE
    max_queue_wait_ms: int = DEFAULT_MAX_QUEUE_WAIT_MS
    state: str = "Succeeded"
    reason: str | None = None
    #: Inference servers behind ``instances``, when a URL fronts several (a Kubernetes
    #: Service); None means one per URL.
    instance_count: int | None = None
    #: Set when the deployment scales to zero when idle; None keeps it running.
    scale_to_zero: ScaleToZero | None = None

    @property
    def capacity(self) -> int:
        """Requests that may be in flight at once before new ones queue, then get 429."""
        if not self.instances:
            return 0
        count = self.instance_count if self.instance_count is not None else len(self.instances)
        return self.max_concurrent_requests_per_instance * count


@dataclass(frozen=True)
class GatewayConfig:
    """What one endpoint's gateway routes: auth mode, weights, mirror and deployments."""

    endpoint: str
    auth_mode: str = "key"
    traffic: Mapping[str, int] = field(default_factory=dict)
    mirror_traffic: Mapping[str, int] = field(default_factory=dict)
    deployments: Mapping[str, DeploymentRoute] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The config as the JSON the file holds."""
        return {
            "endpoint": self.endpoint,
            "auth_mode": self.auth_mode,
            "traffic": dict(self.traffic),
            "mirror_traffic": dict(self.mirror_traffic),
            "deployments": {
                name: {
                    "instances": list(route.instances),
                    "request_timeout_ms": route.request_timeout_ms,
                    "max_concurrent_requests_per_instance":
                        route.max_concurrent_requests_per_instance,
                    "max_queue_wait_ms": route.max_queue_wait_ms,
                    "state": route.state,
                    "reason": route.reason,
                    **({"instance_count": route.instance_count}
                       if route.instance_count is not None else {}),
                    **({"scale_to_zero": route.scale_to_zero.to_dict()}
                       if route.scale_to_zero is not None else {}),
                }
                for name, route in self.deployments.items()
            },
        }

    @property
    def digest(self) -> str:
        """A short hash of the content, the same for equal configs whatever their layout."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def dump_gateway_config(config: GatewayConfig) -> str:
    """The text a target writes to the gateway's config file (validated on the way)."""
    text = json.dumps(config.to_dict(), indent=2, sort_keys=False) + "\n"
    load_gateway_config(text, source="the config being written")
    return text


def load_gateway_config(text: str, *, source: str = "gateway config") -> GatewayConfig:
    """Parse and validate a gateway config file (JSON, or YAML); raise ``ValidationError``."""
    data = _parse_mapping(text, source=source)
    unknown = sorted(set(data) - _TOP_FIELDS)
    if unknown:
        raise _invalid(source, unknown[0], "is not a gateway config field",
                       f"use only {', '.join(sorted(_TOP_FIELDS))}")

    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise _invalid(source, "endpoint", "must be the endpoint's name (a non-empty string)",
                       'add "endpoint": "<name>"')
    auth_mode = data.get("auth_mode", "key")
    if auth_mode not in AUTH_MODES:
        raise _invalid(source, "auth_mode", f"is {auth_mode!r}, not one of {AUTH_MODES}",
                       'set "auth_mode" to "key" or "aml_token"')

    raw_deployments = data.get("deployments", {})
    if not isinstance(raw_deployments, Mapping):
        raise _invalid(source, "deployments", "must map deployment names to their settings",
                       'write "deployments": {"blue": {"instances": ["http://127.0.0.1:5001"]}}')
    deployments = {
        str(name): _load_deployment(str(name), spec, source=source)
        for name, spec in raw_deployments.items()
    }

    traffic = _load_percentages(data.get("traffic", {}), "traffic", deployments, source=source)
    total = sum(traffic.values())
    if total not in (0, 100):
        raise _invalid(source, "traffic", f"adds up to {total} %",
                       "make the weights add up to 100 (or all 0 to stop routing by weight)")
    mirror = _load_percentages(
        data.get("mirror_traffic", {}), "mirror_traffic", deployments, source=source
    )
    return GatewayConfig(
        endpoint=endpoint,
        auth_mode=auth_mode,
        traffic=traffic,
        mirror_traffic={name: pct for name, pct in mirror.items() if pct > 0},
        deployments=deployments,
    )


def _parse_mapping(text: str, *, source: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as json_error:
        # JSON is what targets write; YAML is accepted for hand-written files.
        try:
            import yaml

            data = yaml.safe_load(text)
        except Exception:  # report the JSON error, the expected format
            raise ValidationError(
                f"{source} is neither JSON nor YAML: {json_error}",
                hint="Write the gateway config as a JSON object (see mlkube.gateway.config).",
            ) from None
    if not isinstance(data, dict):
        raise ValidationError(
            f"{source} must hold one JSON object, not {type(data).__name__}",
            hint='Start from {"endpoint": "<name>", "traffic": {}, "deployments": {}}.',
        )
    return data


def _load_deployment(name: str, spec: Any, *, source: str) -> DeploymentRoute:
    where = f"deployments.{name}"
    _check_object(spec, _DEPLOYMENT_FIELDS, where=where, kind="deployment", source=source,
                  example='{"instances": ["http://..."]}')
    instances = spec.get("instances", [])
    if not isinstance(instances, list | tuple) or not all(isinstance(u, str) for u in instances):
        raise _invalid(source, f"{where}.instances", "must be a list of URLs",
                       '["http://127.0.0.1:5001"]')
    for url in instances:
        _check_instance_url(url, where=f"{where}.instances", source=source)
    state = spec.get("state", "Succeeded")
    if state not in STATES:
        raise _invalid(source, f"{where}.state", f"is {state!r}, not one of {STATES}",
                       "use an Azure ML provisioning state")
    reason = spec.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise _invalid(source, f"{where}.reason", "must be a string or null",
                       "describe why the deployment is not Succeeded")
    return DeploymentRoute(
        name=name,
        instances=tuple(url.rstrip("/") for url in instances),
        request_timeout_ms=_positive_int(spec, "request_timeout_ms", DEFAULT_REQUEST_TIMEOUT_MS,
                                         where=where, source=source),
        max_concurrent_requests_per_instance=_positive_int(
            spec, "max_concurrent_requests_per_instance",
            DEFAULT_MAX_CONCURRENT_REQUESTS_PER_INSTANCE, where=where, source=source),
        max_queue_wait_ms=_positive_int(spec, "max_queue_wait_ms", DEFAULT_MAX_QUEUE_WAIT_MS,
                                        where=where, source=source, allow_zero=True),
        state=state,
        reason=reason,
        instance_count=(None if spec.get("instance_count") is None else _positive_int(
            spec, "instance_count", 1, where=where, source=source)),
        scale_to_zero=_load_scale_to_zero(spec.get("scale_to_zero"), where=where,
                                          source=source),
    )


def _load_scale_to_zero(raw: Any, *, where: str, source: str) -> ScaleToZero | None:
    if raw is None:
        return None
    where = f"{where}.scale_to_zero"
    _check_object(raw, _SCALE_TO_ZERO_FIELDS, where=where, kind="scale_to_zero",
                  source=source, example='{"after_s": 300, "held_limit": 4}')
    after = raw.get("after_s")
    if isinstance(after, bool) or not isinstance(after, int | float) or after <= 0:
        raise _invalid(source, f"{where}.after_s", f"is {after!r}, not a positive number",
                       "give the idle seconds before the deployment stops")
    target = raw.get("kubernetes_deployment")
    if target is not None and (not isinstance(target, str) or not target):
        raise _invalid(source, f"{where}.kubernetes_deployment",
                       f"is {target!r}, not a Deployment name", "give the Deployment's name")
    return ScaleToZero(after_s=float(after),
                       held_limit=_positive_int(raw, "held_limit", 1, where=where,
                                                source=source),
                       kubernetes_deployment=target)


def _check_object(raw: Any, fields: set[str], *, where: str, kind: str, source: str,
                  example: str) -> None:
    """``raw`` is a mapping holding only ``fields``, else the error naming the first other."""
    if not isinstance(raw, Mapping):
        raise _invalid(source, where, "must be an object", example)
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise _invalid(source, f"{where}.{unknown[0]}", f"is not a {kind} field",
                       f"use only {', '.join(sorted(fields))}")


def _check_instance_url(url: str, *, where: str, source: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise _invalid(source, where, f"has {url!r}, which is not an http://host:port URL",
                       "give each instance as http://HOST:PORT (the gateway speaks plain HTTP "
                       "to inference servers; TLS ends at the gateway or the ingress)")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _invalid(source, where, f"has {url!r}, whose port is not a number 1-65535",
                       "give each instance as http://HOST:PORT") from None
    if parts.query or parts.fragment:
        raise _invalid(source, where, f"has {url!r} with a query or fragment",
                       "give only scheme, host, port and an optional path prefix")


def _positive_int(spec: Mapping[str, Any], key: str, default: int, *, where: str, source: str,
                  allow_zero: bool = False) -> int:
    value = spec.get(key, default)
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _invalid(source, f"{where}.{key}", f"is {value!r}, not an integer >= {low}",
                       f"set it to a whole number (Azure ML's default is {default})")
    return value


def _load_percentages(raw: Any, key: str, deployments: Mapping[str, DeploymentRoute], *,
                      source: str) -> dict[str, int]:
    if not isinstance(raw, Mapping):
        raise _invalid(source, key, "must map deployment names to percentages",
                       f'write "{key}": {{"blue": 100}}')
    result: dict[str, int] = {}
    for name, pct in raw.items():
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
            raise _invalid(source, f"{key}.{name}", f"is {pct!r}, not a whole percent 0-100",
                           "give an integer between 0 and 100")
        if name not in deployments:
            known = ", ".join(sorted(deployments)) or "none"
            raise _invalid(source, f"{key}.{name}", "names a deployment the config lacks",
                           f"add it under deployments (known: {known})")
        result[str(name)] = pct
    return result


def _invalid(source: str, where: str, problem: str, fix: str) -> ValidationError:
    return ValidationError(f"{source}: {where} {problem}", hint=fix)
