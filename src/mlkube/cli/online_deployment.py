"""``mlkube online-deployment create|update|show|list|delete|get-logs``: Azure ML CLI v2's
deployment commands, over ``ml_client.online_deployments``.

``create --all-traffic`` then routes all of the endpoint's traffic to the new deployment,
as Azure's flag does; ``--traffic-steps`` (create or update) moves it there in steps and
rolls back on its own (``cli.rollout_options``). Progress (environment build, instance
start) goes to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mlkube.cli.online_endpoint import LOCAL_OPTION, SET_OPTION, client
from mlkube.cli.output import OUTPUT_OPTION, OutputFormat, emit
from mlkube.cli.rollout_options import (
    MAX_ERROR_RATE_OPTION,
    MAX_P99_OPTION,
    STEP_PAUSE_OPTION,
    TRAFFIC_STEPS_OPTION,
    progressive_rollout,
)
from mlkube.cli.workspace import WORKSPACE_OPTION, plain

deployment_app = typer.Typer(name="online-deployment", no_args_is_help=True,
                             help="Create, update, inspect and delete online deployments.")

ENDPOINT_OPTION = typer.Option(None, "--endpoint-name", "-e", help="Endpoint name.")
_COLUMNS = ("name", "endpoint_name", "provisioning_state", "instance_count", "model")


def _summary(deployment: Any, output: OutputFormat) -> dict[str, Any]:
    data = deployment.to_dict()
    if output is OutputFormat.table:
        if isinstance(data.get("model"), dict):
            model = data["model"]
            data["model"] = model.get("path") or f"{model.get('name')}:{model.get('version')}"
        return {k: plain(v) for k, v in data.items()}
    return data


def _load(file: Path | None, name: str | None, endpoint_name: str | None,
          overrides: list[str], *, existing: Any = None) -> Any:
    from mlkube.entities.base import apply_set
    from mlkube.entities.online_deployment import OnlineDeployment, load_online_deployment
    from mlkube.errors import ValidationError

    if file is not None:
        deployment = load_online_deployment(file, overrides=overrides)
    elif existing is not None:
        data = {k: v for k, v in existing.to_dict().items()
                if k not in ("provisioning_state", "id")}
        for assignment in overrides:
            apply_set(data, assignment)
        deployment = OnlineDeployment.from_dict(data, source="--set flags")
    else:
        raise ValidationError("Give the deployment as -f deployment.yml.",
                              hint="mlkube online-deployment create -f blue.yml --all-traffic")
    if name:
        deployment.name = name
    if endpoint_name:
        deployment.endpoint_name = endpoint_name
    return deployment


@deployment_app.command("create")
def create(
    file: Path = typer.Option(..., "--file", "-f", help="Deployment YAML (Azure ML v2)."),
    name: str | None = typer.Option(None, "--name", "-n", help="Deployment name."),
    endpoint_name: str | None = ENDPOINT_OPTION,
    all_traffic: bool = typer.Option(False, "--all-traffic",
                                     help="Then send all of the endpoint's traffic to it."),
    set_: list[str] = SET_OPTION,
    local: bool = LOCAL_OPTION,
    skip_script_validation: bool = typer.Option(False, "--skip-script-validation",
                                                help="Accepted for Azure ML's CLI."),
    traffic_steps: str | None = TRAFFIC_STEPS_OPTION,
    step_pause: str | None = STEP_PAUSE_OPTION,
    max_error_rate: float | None = MAX_ERROR_RATE_OPTION,
    max_p99_ms: float | None = MAX_P99_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Create a deployment: build its environment, start its instances, wait until ready."""
    from mlkube.errors import ConflictError, ResourceNotFoundError, ValidationError

    deployment = _load(file, name, endpoint_name, set_)
    rollout = progressive_rollout(traffic_steps, step_pause, max_error_rate, max_p99_ms)
    if rollout is not None and all_traffic:
        raise ValidationError("--all-traffic and --traffic-steps both say where the traffic "
                              "goes.", hint="Give one of them.")
    ml_client = client(workspace)
    try:
        ml_client.online_deployments.get(deployment.name, deployment.endpoint_name or "",
                                         local=local)
    except ResourceNotFoundError:
        pass
    else:
        raise ConflictError(
            f"Deployment {deployment.name} already exists in endpoint "
            f"{deployment.endpoint_name}.",
            hint="Replace it with `mlkube online-deployment update -f ...` (no downtime).")
    created = ml_client.online_deployments.begin_create_or_update(
        deployment, local=local, rollout=rollout).result()
    if all_traffic:
        endpoint = ml_client.online_endpoints.get(deployment.endpoint_name, local=local)
        endpoint.traffic = {deployment.name: 100}
        ml_client.online_endpoints.begin_create_or_update(endpoint, local=local).result()
    emit(_summary(created, output), output)


@deployment_app.command("update")
def update(
    file: Path | None = typer.Option(None, "--file", "-f", help="Deployment YAML (Azure ML v2)."),
    name: str | None = typer.Option(None, "--name", "-n", help="Deployment name."),
    endpoint_name: str | None = ENDPOINT_OPTION,
    set_: list[str] = SET_OPTION,
    local: bool = LOCAL_OPTION,
    traffic_steps: str | None = TRAFFIC_STEPS_OPTION,
    step_pause: str | None = STEP_PAUSE_OPTION,
    max_error_rate: float | None = MAX_ERROR_RATE_OPTION,
    max_p99_ms: float | None = MAX_P99_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Replace a deployment; new instances take over only once ready (no failed request)."""
    from mlkube.errors import ValidationError

    rollout = progressive_rollout(traffic_steps, step_pause, max_error_rate, max_p99_ms)
    ml_client = client(workspace)
    existing = None
    if file is None:
        if not name or not endpoint_name:
            raise ValidationError("Give -f deployment.yml, or --name and --endpoint-name.",
                                  hint="mlkube online-deployment update -n blue -e my-endpoint "
                                  "--set instance_count=2")
        existing = ml_client.online_deployments.get(name, endpoint_name, local=local)
    deployment = _load(file, name, endpoint_name, set_, existing=existing)
    updated = ml_client.online_deployments.begin_create_or_update(
        deployment, local=local, rollout=rollout).result()
    emit(_summary(updated, output), output)


@deployment_app.command("show")
def show(
    name: str = typer.Option(..., "--name", "-n", help="Deployment name."),
    endpoint_name: str = typer.Option(..., "--endpoint-name", "-e", help="Endpoint name."),
    local: bool = LOCAL_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Show a deployment and its provisioning state."""
    deployment = client(workspace).online_deployments.get(name, endpoint_name, local=local)
    emit(_summary(deployment, output), output)


@deployment_app.command("list")
def list_(
    endpoint_name: str = typer.Option(..., "--endpoint-name", "-e", help="Endpoint name."),
    local: bool = LOCAL_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """List an endpoint's deployments."""
    deployments = client(workspace).online_deployments.list(endpoint_name, local=local)
    emit([_summary(d, output) for d in deployments], output, columns=_COLUMNS)


@deployment_app.command("delete")
def delete(
    name: str = typer.Option(..., "--name", "-n", help="Deployment name."),
    endpoint_name: str = typer.Option(..., "--endpoint-name", "-e", help="Endpoint name."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Accepted for Azure ML's CLI; "
                             "mlkube does not prompt."),
    local: bool = LOCAL_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Delete a deployment (it must have no traffic left)."""
    client(workspace).online_deployments.begin_delete(name, endpoint_name, local=local).result()
    typer.echo(f"Deleted deployment {name} of endpoint {endpoint_name}.")


@deployment_app.command("get-logs")
def get_logs(
    name: str = typer.Option(..., "--name", "-n", help="Deployment name."),
    endpoint_name: str = typer.Option(..., "--endpoint-name", "-e", help="Endpoint name."),
    lines: int | None = typer.Option(None, "--lines", "-l", help="Last N lines (default all)."),
    container: str = typer.Option("inference-server", "--container", "-c",
                                  help="inference-server or storage-initializer."),
    previous: bool = typer.Option(False, "--previous", "-p",
                                  help="The log from before the last restart (a crash's "
                                       "cause is there)."),
    local: bool = LOCAL_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Print a deployment's inference-server log (or its storage-initializer log)."""
    typer.echo(client(workspace).online_deployments.get_logs(
        name, endpoint_name, lines, container_type=container, local=local,
        previous=previous))


def register(app: typer.Typer) -> None:
    app.add_typer(deployment_app, name="online-deployment")
