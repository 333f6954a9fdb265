"""``mlkube job create|show|list|stream|cancel``: command jobs from Azure ML v2 YAML
(``-f``) or flags. Only typer is imported at module level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mlkube.cli.output import OUTPUT_OPTION, OutputFormat, emit
from mlkube.cli.workspace import WORKSPACE_OPTION, open_workspace, plain

job_app = typer.Typer(name="job", help="Run command jobs and follow them.",
                      no_args_is_help=True)
_COLUMNS = ("name", "status", "experiment_name", "display_name", "created_at", "exit_code")


def _operations(workspace: Path | None) -> Any:
    from mlkube.operations.jobs import JobOperations

    return JobOperations(open_workspace(workspace))


def _summary(job: Any, output: OutputFormat) -> dict[str, Any]:
    data = job.to_dict()
    data["created_at"] = (job.creation_context or {}).get("created_at", "")
    data.setdefault("experiment_name", "Default")
    if output is OutputFormat.table:
        data.pop("creation_context", None)
        return {k: plain(v) for k, v in data.items() if v not in ({}, [], "")}
    return data


@job_app.command("create")
def create(
    file: Path | None = typer.Option(None, "--file", "-f", help="Command job YAML."),
    name: str | None = typer.Option(None, "--name", "-n", help="Job name (default: generated)."),
    command: str | None = typer.Option(None, "--command", help="The command to run."),
    code: Path | None = typer.Option(None, "--code", help="Folder to snapshot and run in."),
    environment: str | None = typer.Option(
        None, "--environment", "-e", help="Registered environment (name:version, name@latest)."),
    experiment_name: str | None = typer.Option(None, "--experiment-name"),
    display_name: str | None = typer.Option(None, "--display-name"),
    set_: list[str] = typer.Option([], "--set", help="Override a field: inputs.x.path=..."),
    stream: bool = typer.Option(False, "--stream", "-s",
                                help="Print the job's log until it ends."),
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Submit a command job; it runs in the background (use --stream to follow it)."""
    from mlkube.entities.base import apply_set
    from mlkube.entities.job import Command

    if file is not None:
        job = Command.from_yaml(file, overrides=set_)
    else:
        data: dict[str, Any] = {}
        if command is not None:
            data["command"] = command
        for assignment in set_:
            apply_set(data, assignment)
        job = Command.from_dict(data, source="--command/--set flags", base_path=".")
    for field, value in {"name": name, "command": command,
                         "code": str(code.resolve()) if code else None,
                         "environment": environment, "experiment_name": experiment_name,
                         "display_name": display_name}.items():
        if value is not None:
            setattr(job, field, value)
    operations = _operations(workspace)
    created = operations.create_or_update(job)
    if stream:
        if output is OutputFormat.table:
            typer.echo(f"Job {created.name} submitted; streaming its log.", err=True)
        created = operations.stream(created.name, write=lambda text: typer.echo(
            text, nl=False, err=output is not OutputFormat.table))
    emit(_summary(created, output), output)


@job_app.command("show")
def show(
    name: str = typer.Option(..., "--name", "-n", help="Job name."),
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Show a job: status, exit code, failure cause, inputs."""
    emit(_summary(_operations(workspace).get(name), output), output)


@job_app.command("list")
def list_(
    experiment_name: str | None = typer.Option(None, "--experiment-name"),
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """List jobs, newest first."""
    rows = [_summary(j, output) for j in _operations(workspace).list(
        experiment_name=experiment_name)]
    emit(rows, output, columns=_COLUMNS)


@job_app.command("stream")
def stream(
    name: str = typer.Option(..., "--name", "-n", help="Job name."),
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Print a job's log until it ends; exit code 1 if it failed."""
    _operations(workspace).stream(name, write=lambda text: typer.echo(text, nl=False))


@job_app.command("cancel")
def cancel(
    name: str = typer.Option(..., "--name", "-n", help="Job name."),
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Cancel a job; it ends Canceled."""
    emit(_summary(_operations(workspace).cancel(name), output), output)


def register(app: typer.Typer) -> None:
    app.add_typer(job_app)
