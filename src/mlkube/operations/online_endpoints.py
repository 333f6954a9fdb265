"""``ml_client.online_endpoints``: create, inspect, invoke and delete online endpoints.

Shaped like Azure ML v2's ``OnlineEndpointOperations`` (``begin_create_or_update``,
``get``, ``list``, ``begin_delete``, ``invoke``, ``get_keys``, ``begin_regenerate_keys``,
``local=True`` accepted), so ported scripts keep their calls. Orchestration only: the
endpoint's target (chosen by its ``compute``) does the work.
"""

from __future__ import annotations

import builtins
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from mlkube.entities.endpoint_auth import EndpointAuthKeys, EndpointAuthToken
from mlkube.entities.online_endpoint import DEFAULT_TOKEN_LIFETIME_MINUTES, OnlineEndpoint
from mlkube.errors import (
    BadGatewayError,
    RequiredLocalArtifactsNotFoundError,
    ValidationError,
    error_from_response,
)
from mlkube.operations.endpoint_targets import (
    EndpointTargets,
    workspace_computes,
    workspace_folder,
)
from mlkube.operations.poller import LROPoller, ProgressCallback, print_progress
from mlkube.targets.base import Target
from mlkube.workspace.workspace import Workspace

#: How long ``invoke`` waits for an answer (the gateway enforces the deployment's own
#: request_timeout_ms first).
INVOKE_TIMEOUT_SECONDS = 300.0


class OnlineEndpointOperations:
    """Online endpoints of one workspace (Azure ML's ``ml_client.online_endpoints``)."""

    def __init__(self, workspace: Workspace) -> None:
        self._targets = EndpointTargets(workspace_folder(workspace),
                                        computes=workspace_computes(workspace))

    def begin_create_or_update(
        self, endpoint: OnlineEndpoint, *, local: bool = False,
        progress: ProgressCallback | None = print_progress, **_azure_kwargs: Any,
    ) -> LROPoller[OnlineEndpoint]:
        """Create the endpoint, or update its auth mode, traffic and mirror.

        Traffic not set on ``endpoint`` keeps its current value, as in Azure ML. The
        poller's result is the endpoint with ``scoring_uri`` filled in; a traffic change
        is in effect when it returns.
        """
        if not isinstance(endpoint, OnlineEndpoint):
            raise ValidationError(
                f"begin_create_or_update takes an OnlineEndpoint, not "
                f"{type(endpoint).__name__}.",
                hint="Pass ManagedOnlineEndpoint(name=...) or load_online_endpoint(path).")
        target = self._targets.for_update(endpoint, local=local)
        return LROPoller(
            lambda report: _shown(target, target.apply_endpoint(endpoint, progress=report)),
            progress=progress, description=f"endpoint {endpoint.name} update",
            synchronous=local)

    def get(self, name: str, *, local: bool = False) -> OnlineEndpoint:
        target = self._targets.for_endpoint(name, local=local)
        return _shown(target, target.get_endpoint(name))

    def list(self, *, local: bool = False) -> builtins.list[OnlineEndpoint]:
        found: builtins.list[OnlineEndpoint] = []
        for target in self._targets.all(local=local):
            found.extend(_shown(target, endpoint) for endpoint in target.list_endpoints())
        return found

    def begin_delete(self, name: str, *, local: bool = False,
                     progress: ProgressCallback | None = print_progress) -> LROPoller[None]:
        """Delete the endpoint with all its deployments, and its keys."""
        target = self._targets.for_endpoint(name, local=local)
        target.get_endpoint(name)  # a missing endpoint fails here, not in the poller
        return LROPoller(lambda report: target.delete_endpoint(name, progress=report),
                         progress=progress, description=f"endpoint {name} deletion",
                         synchronous=local)

    def invoke(self, endpoint_name: str, request_file: str | os.PathLike[str] | None = None,
               deployment_name: str | None = None, *, local: bool = False,
               **_azure_kwargs: Any) -> str:
        """Send ``request_file`` to the endpoint's scoring URI with the endpoint's
        credential; return the response text (raise with the status and cause otherwise).

        ``deployment_name`` pins a deployment (the ``azureml-model-deployment`` header);
        a local endpoint with no traffic set and one deployment is invoked on that one, as
        Azure ML's local endpoints are.
        """
        if request_file is None:
            raise ValidationError("invoke needs a request_file.",
                                  hint="Pass request_file='sample-request.json'.")
        path = Path(request_file).expanduser()
        if not path.is_file():
            raise RequiredLocalArtifactsNotFoundError(
                f"Request file {path} does not exist.",
                hint="Pass the path of a JSON (or CSV) request body.")
        response = self.send_request(endpoint_name, path.read_bytes(),
                                     content_type=_content_type(path),
                                     deployment_name=deployment_name, local=local)
        if response.is_success:
            return response.text
        deployment = response.headers.get("azureml-model-deployment")
        where = f"endpoint {endpoint_name}" + (f" (deployment {deployment})" if deployment
                                               else "")
        # The server's own message and hint when it sent them (never the request body).
        raise error_from_response(
            response.status_code, response.content, what=f"Invoking {where}",
            hint="See the deployment's log: `mlkube online-deployment get-logs`.")

    def send_request(self, endpoint_name: str, body: bytes, *,
                     content_type: str = "application/json",
                     deployment_name: str | None = None, local: bool = False) -> Any:
        """POST ``body`` to the endpoint's scoring URI with its credential and return the
        ``httpx.Response`` whatever its status (``invoke`` raises on a failure; the
        studio's Test page shows it). Deployment choice as ``invoke``."""
        import httpx

        target = self._targets.for_endpoint(endpoint_name, local=local)
        uri = target.scoring_uri(endpoint_name)
        if deployment_name is None and target.kind in ("local", "docker"):
            deployment_name = _only_deployment_without_traffic(target, endpoint_name)
        headers = {"Content-Type": content_type,
                   "Authorization": f"Bearer {self._credential(endpoint_name, local=local)}"}
        if deployment_name:
            headers["azureml-model-deployment"] = deployment_name
        try:
            return httpx.post(uri, content=body, headers=headers,
                              timeout=INVOKE_TIMEOUT_SECONDS, trust_env=False)
        except httpx.TransportError as error:
            raise BadGatewayError(
                f"Endpoint {endpoint_name} did not answer at {uri}: {error}.",
                hint=f"Check that it runs: `mlkube online-endpoint show -n {endpoint_name}`.",
            ) from None

    def get_keys(self, name: str, *, local: bool = False) -> EndpointAuthKeys | EndpointAuthToken:
        """The endpoint's keys (key mode) or a fresh token (``aml_token`` mode)."""
        from mlkube.gateway.auth import issue_token

        target = self._targets.for_endpoint(name, local=local)
        endpoint = target.get_endpoint(name)
        keys = target.endpoint_keys(name)
        if endpoint.auth_mode == "aml_token":
            minutes = endpoint.token_lifetime_minutes or DEFAULT_TOKEN_LIFETIME_MINUTES
            return issue_token(keys.token_signing_key, name, timedelta(minutes=minutes))
        return EndpointAuthKeys(primary_key=keys.primary_key, secondary_key=keys.secondary_key)

    def begin_regenerate_keys(self, name: str, *, key_type: str = "primary",
                              local: bool = False,
                              progress: ProgressCallback | None = print_progress,
                              ) -> LROPoller[None]:
        """Replace the primary or secondary key; the old value stops working when the
        poller's result returns."""
        if key_type not in ("primary", "secondary"):
            raise ValidationError(f"key_type is {key_type!r}, not 'primary' or 'secondary'.",
                                  hint="Pass key_type='primary' or key_type='secondary'.")
        target = self._targets.for_endpoint(name, local=local)
        target.get_endpoint(name).check_keys_regenerable()
        return LROPoller(lambda report: target.regenerate_key(name, key_type, progress=report),
                         progress=progress, description=f"endpoint {name} key regeneration")

    def _credential(self, name: str, *, local: bool) -> str:
        credential = self.get_keys(name, local=local)
        if isinstance(credential, EndpointAuthToken):
            return credential.access_token
        return credential.primary_key


def _only_deployment_without_traffic(target: Any, endpoint_name: str) -> str | None:
    """Azure ML's local endpoints send ``invoke`` to their one deployment without any
    traffic set; an endpoint with no traffic and exactly one deployment does the same."""
    if sum(target.get_endpoint(endpoint_name).traffic.values()) > 0:
        return None
    deployments = target.list_deployments(endpoint_name)
    return deployments[0].name if len(deployments) == 1 else None


def _content_type(path: Path) -> str:
    return "text/csv" if path.suffix.lower() == ".csv" else "application/json"


def _shown(target: Target, endpoint: OnlineEndpoint) -> OnlineEndpoint:
    """The endpoint as Azure ML shows it: every deployment in its traffic (0 if none)."""
    return endpoint.showing_deployments(
        [d.name for d in target.list_deployments(endpoint.name)])
