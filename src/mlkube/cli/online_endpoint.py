"""``mlkube online-endpoint create|update|show|list|delete|invoke|get-credentials|
regenerate-keys``: Azure ML CLI v2's endpoint commands, over ``ml_client.online_endpoints``.

Only typer is imported at module level (``mlkube serve`` must start fast); progress goes
to stderr so stdout stays the result (``--output json`` is parseable). Keys are printed
only by ``get-credentials``, because the user asked for them.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import typer

from mlkube.cli.output import OUTPUT_OPTION, OutputFormat, emit
from mlkube.cli.workspace import WORKSPACE_OPTION, plain

endpoint_app = typer.Typer(name="online-endpoint", no_args_is_help=True,
                           help="Create, update, invoke and delete online endpoints.")

LOCAL_OPTION = typer.Option(False, "--local", help="Run on this machine (compute local), as "
                            "Azure ML's --local.")
NAME_OPTION = typer.Option(None, "--name", "-n", help="Endpoint name.")
SET_OPTION = typer.Option([], "--set", help="Override a field: field.sub=value.")
_COLUMNS = ("name", "auth_mode", "compute", "provisioning_state", "traffic", "scoring_uri")


class KeyType(str, enum.Enum):
    """Which key regenerate-keys replaces (checked by the CLI, so a wrong one is a usage
    error naming the choices as flags, not as Python)."""

    primary = "primary"
    secondary = "secondary"


def client(workspace: Path | None) -> Any:
    """The ``MLClient`` of ``--workspace`` (else $MLKUBE_WORKSPACE or ./.mlkube)."""
    from mlkube.operations.client import MLClient

    return MLClient(workspace=workspace)


def endpoint_summary(endpoint: Any, output: OutputFormat) -> dict[str, Any]:
    data = endpoint.to_dict()
    if output is OutputFormat.table:
        return {k: plain(v) for k, v in data.items()}
    return data


def parse_percentages(text: str, *, option: str) -> dict[str, int]:
    """``"blue=90 green=10"`` (spaces or commas) as ``{"blue": 90, "green": 10}``."""
    from mlkube.errors import ValidationError

    result: dict[str, int] = {}
    for item in text.replace(",", " ").split():
        name, sep, percent = item.partition("=")
        if not sep or not name or not percent.strip().isdigit():
            raise ValidationError(f"{option} {text!r}: {item!r} is not NAME=PERCENT.",
                                  hint=f'Write {option} "blue=90 green=10".')
        result[name] = int(percent)
    return result


def _load(file: Path | None, name: str | None, overrides: list[str], *,
          existing: Any = None) -> Any:
    from mlkube.entities.base import apply_set
    from mlkube.entities.online_endpoint import OnlineEndpoint, load_online_endpoint
    from mlkube.errors import ValidationError

    if file is not None:
        endpoint = load_online_endpoint(file, overrides=overrides)
        if name:
            endpoint.name = name
        return endpoint
    if existing is not None:
        data = {k: v for k, v in existing.to_dict().items()
                if k not in ("scoring_uri", "openapi_uri", "provisioning_state", "id")}
    elif name:
        data = {"name": name}
    else:
        raise ValidationError("Give the endpoint as -f endpoint.yml or --name NAME.",
                              hint="mlkube online-endpoint create -n my-endpoint --local")
    for assignment in overrides:
        apply_set(data, assignment)
    return OnlineEndpoint.from_dict(data, source="--name/--set flags")


@endpoint_app.command("create")
def create(
    file: Path | None = typer.Option(None, "--file", "-f", help="Endpoint YAML (Azure ML v2)."),
    name: str | None = NAME_OPTION,
    auth_mode: str | None = typer.Option(None, "--auth-mode", help="key or aml_token."),
    set_: list[str] = SET_OPTION,
    local: bool = LOCAL_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Create an endpoint: its gateway, keys and stable scoring URI."""
    from mlkube.errors import ConflictError, ResourceNotFoundError

    endpoint = _load(file, name, set_)
    if auth_mode:
        endpoint.auth_mode = auth_mode
    operations = client(workspace).online_endpoints
    try:
        operations.get(endpoint.name, local=local)
    except ResourceNotFoundError:
        pass
    else:
        raise ConflictError(f"Endpoint {endpoint.name} already exists.",
                            hint="Change it with `mlkube online-endpoint update`, or pick "
                            "another name.")
    created = operations.begin_create_or_update(endpoint, local=local).result()
    emit(endpoint_summary(created, output), output)


@endpoint_app.command("update")
def update(
    file: Path | None = typer.Option(None, "--file", "-f", help="Endpoint YAML (Azure ML v2)."),
    name: str | None = NAME_OPTION,
    traffic: str | None = typer.Option(None, "--traffic", "-t",
                                       help='Traffic split, e.g. "blue=90 green=10".'),
    mirror_traffic: str | None = typer.Option(
        None, "--mirror-traffic", help='Mirror a share of requests, e.g. "green=10" '
        '("green=0" stops mirroring).'),
    set_: list[str] = SET_OPTION,
    local: bool = LOCAL_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Change an endpoint's traffic, mirror or auth mode (live, nothing restarts)."""
    from mlkube.errors import ValidationError

    operations = client(workspace).online_endpoints
    target_name = name
    if target_name is None and file is not None:
        from mlkube.entities.base import load_yaml_mapping

        target_name = str(load_yaml_mapping(file).get("name") or "")
    if not target_name:
        raise ValidationError("Name the endpoint to update with --name or in the -f file.",
                              hint="mlkube online-endpoint update -n NAME --traffic blue=100")
    existing = operations.get(target_name, local=local)
    endpoint = _load(file, name, set_, existing=existing)
    if traffic is not None:
        endpoint.traffic = parse_percentages(traffic, option="--traffic")
    if mirror_traffic is not None:
        endpoint.mirror_traffic = parse_percentages(mirror_traffic, option="--mirror-traffic")
    updated = operations.begin_create_or_update(endpoint, local=local).result()
    emit(endpoint_summary(updated, output), output)


@endpoint_app.command("show")
def show(
    name: str = typer.Option(..., "--name", "-n", help="Endpoint name."),
    local: bool = LOCAL_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Show an endpoint: scoring URI, auth mode, traffic, state."""
    emit(endpoint_summary(client(workspace).online_endpoints.get(name, local=local), output),
         output)


@endpoint_app.command("list")
def list_(
    local: bool = LOCAL_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """List endpoints."""
    endpoints = client(workspace).online_endpoints.list(local=local)
    emit([endpoint_summary(e, output) for e in endpoints], output, columns=_COLUMNS)


@endpoint_app.command("delete")
def delete(
    name: str = typer.Option(..., "--name", "-n", help="Endpoint name."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Accepted for Azure ML's CLI; "
                             "mlkube does not prompt."),
    local: bool = LOCAL_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Delete an endpoint, all its deployments and its keys."""
    client(workspace).online_endpoints.begin_delete(name, local=local).result()
    typer.echo(f"Deleted endpoint {name}.")


@endpoint_app.command("invoke")
def invoke(
    name: str = typer.Option(..., "--name", "-n", help="Endpoint name."),
    request_file: Path = typer.Option(..., "--request-file", "-r",
                                      help="Request body (JSON, or CSV)."),
    deployment_name: str | None = typer.Option(
        None, "--deployment-name", "-d", help="Send to this deployment, whatever the traffic "
        "split (the azureml-model-deployment header)."),
    local: bool = LOCAL_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Score a request file through the endpoint's gateway (with its credential)."""
    typer.echo(client(workspace).online_endpoints.invoke(
        name, request_file=request_file, deployment_name=deployment_name, local=local))


@endpoint_app.command("get-credentials")
def get_credentials(
    name: str = typer.Option(..., "--name", "-n", help="Endpoint name."),
    local: bool = LOCAL_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Print the endpoint's keys (key mode) or a fresh token (aml_token mode)."""
    from mlkube.entities.endpoint_auth import EndpointAuthKeys

    credential = client(workspace).online_endpoints.get_keys(name, local=local)
    # Azure ML CLI's field names, so `--query primaryKey`-style scripts port.
    if isinstance(credential, EndpointAuthKeys):
        data: dict[str, Any] = {"primaryKey": credential.primary_key,
                                "secondaryKey": credential.secondary_key}
    else:
        data = {"accessToken": credential.access_token,
                "expiryTimeUtc": credential.expiry_time_utc,
                "refreshAfterTimeUtc": credential.refresh_after_time_utc,
                "tokenType": credential.token_type}
    emit(data, output)


@endpoint_app.command("regenerate-keys")
def regenerate_keys(
    name: str = typer.Option(..., "--name", "-n", help="Endpoint name."),
    key_type: KeyType = typer.Option(KeyType.primary, "--key-type",
                                     help="primary or secondary."),
    local: bool = LOCAL_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Replace a key; the old one stops working when this returns (the new one is shown
    by get-credentials)."""
    client(workspace).online_endpoints.begin_regenerate_keys(
        name, key_type=key_type.value, local=local).result()
    typer.echo(f"Regenerated the {key_type.value} key of endpoint {name}.")


def register(app: typer.Typer) -> None:
    app.add_typer(endpoint_app, name="online-endpoint")
