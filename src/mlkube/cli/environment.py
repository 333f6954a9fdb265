"""``mlkube environment create|list|show|resolve|build``: environments from Azure ML v2
YAML (``-f``) or flags, stored in the workspace; resolved and built as cached virtualenvs.

Only typer is imported at module level; the workspace, pydantic entities and the
environment machinery load inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mlkube.cli.output import OUTPUT_OPTION, OutputFormat, emit

environment_app = typer.Typer(
    name="environment", help="Create, list, show, resolve and build environments.",
    no_args_is_help=True,
)

_WORKSPACE_OPTION = typer.Option(
    None, "--workspace", "-w", help="Workspace folder (default: $MLKUBE_WORKSPACE or ./.mlkube)."
)
_COLUMNS = ("name", "version", "image", "python_version", "created_at")


def _operations(workspace: Path | None) -> Any:
    from mlkube.operations.environments import EnvironmentOperations
    from mlkube.workspace.workspace import Workspace

    return EnvironmentOperations(Workspace.open(workspace=workspace))


def _summary(environment: Any) -> dict[str, Any]:
    data = environment.to_dict()
    data["created_at"] = (environment.creation_context or {}).get("created_at", "")
    return data


@environment_app.command("create")
def create(
    file: Path | None = typer.Option(None, "--file", "-f", help="Environment YAML (Azure ML v2)."),
    name: str | None = typer.Option(None, "--name", "-n", help="Name (overrides the YAML)."),
    version: str | None = typer.Option(None, "--version", "-v", help="Version (default: next)."),
    image: str | None = typer.Option(None, "--image", help="Base image for container targets."),
    conda_file: Path | None = typer.Option(None, "--conda-file", help="conda.yaml to install."),
    pip_requirements: Path | None = typer.Option(
        None, "--pip-requirements", "--requirements", help="requirements.txt to install."),
    python_version: str | None = typer.Option(None, "--python-version", help="e.g. 3.11"),
    description: str | None = typer.Option(None, "--description"),
    set_: list[str] = typer.Option([], "--set", help="Override a YAML field: field.sub=value."),
    workspace: Path | None = _WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Register a new environment version."""
    from mlkube.entities.environment import Environment

    if file is not None:
        environment = Environment.from_yaml(file, overrides=set_)
    else:
        data: dict[str, Any] = {}
        from mlkube.entities.base import apply_set

        for assignment in set_:
            apply_set(data, assignment)
        environment = Environment.from_dict(data, source="--set flags")
    flags = {"name": name, "version": version, "image": image, "description": description,
             "python_version": python_version,
             "conda_file": str(conda_file.resolve()) if conda_file else None,
             "pip_requirements": str(pip_requirements.resolve()) if pip_requirements else None}
    for field, value in flags.items():
        if value is not None:
            setattr(environment, field, value)
    created = _operations(workspace).create_or_update(environment)
    emit(_summary(created) if output is not OutputFormat.table else {
        "name": created.name, "version": created.version, "id": created.id,
        "python_version": created.python_version or "(from the conda file / current)",
    }, output)


@environment_app.command("list")
def list_(
    name: str | None = typer.Option(None, "--name", "-n", help="Only versions of this name."),
    workspace: Path | None = _WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """List environments (every version)."""
    rows = [_summary(e) for e in _operations(workspace).list(name)]
    emit(rows, output, columns=_COLUMNS)


@environment_app.command("show")
def show(
    name: str = typer.Argument(..., help="Environment name."),
    version: str | None = typer.Option(None, "--version", "-v"),
    label: str | None = typer.Option(None, "--label", "-l", help="'latest'"),
    workspace: Path | None = _WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Show one environment version (the newest by default)."""
    environment = _operations(workspace).get(name, version=version, label=label)
    data = _summary(environment)
    emit(data if output is not OutputFormat.table else {
        k: (v if not isinstance(v, dict | list) else _compact(v)) for k, v in data.items()
        if k != "creation_context"
    }, output)


@environment_app.command("resolve")
def resolve(
    reference: str | None = typer.Argument(
        None, help="A registered environment: name:version or name@latest."),
    file: Path | None = typer.Option(None, "--file", "-f", help="Environment YAML."),
    model: Path | None = typer.Option(None, "--model", help="An MLflow model folder."),
    workspace: Path | None = _WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Print the Python version and pip requirements an environment resolves to."""
    resolved = _resolve(reference, file=file, model=model, workspace=workspace)
    emit({"content_hash": resolved.content_hash, "python_version": resolved.python_version,
          "image": resolved.image, "requirements": list(resolved.requirements),
          "sources": list(resolved.sources)}
         if output is not OutputFormat.table else {
             "content_hash": resolved.content_hash,
             "python_version": resolved.python_version or "(current)",
             "requirements": "\n  " + "\n  ".join(resolved.requirements),
             "notes": "\n  " + "\n  ".join(resolved.sources)}, output)


@environment_app.command("build")
def build(
    reference: str | None = typer.Argument(
        None, help="A registered environment: name:version or name@latest."),
    file: Path | None = typer.Option(None, "--file", "-f", help="Environment YAML."),
    model: Path | None = typer.Option(None, "--model", help="An MLflow model folder."),
    allow_other_python: bool = typer.Option(
        False, "--allow-other-python", help="Use this Python when the requested one is not "
        "installed (with a warning)."),
    workspace: Path | None = _WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Build (or reuse) the cached virtualenv of an environment; prints its python."""
    from mlkube.environments.venv_cache import materialize

    resolved = _resolve(reference, file=file, model=model, workspace=workspace)
    python = materialize(resolved, allow_other_python=allow_other_python,
                         progress=lambda message: typer.echo(message, err=True))
    emit({"content_hash": resolved.content_hash, "python": str(python)}, output)


def _resolve(reference: str | None, *, file: Path | None, model: Path | None,
             workspace: Path | None) -> Any:
    given = [x for x in (reference, file, model) if x is not None]
    if len(given) != 1:
        from mlkube.errors import ValidationError

        raise ValidationError(
            "Name exactly one environment: a registered name:version, -f FILE or --model DIR.",
            hint="e.g. `mlkube environment resolve -f environment.yml`.",
        )
    from mlkube.environments.resolution import resolve_environment

    if model is not None:
        return resolve_environment(model)
    if file is not None:
        from mlkube.entities.environment import Environment

        return resolve_environment(Environment.from_yaml(file), base_path=file.parent)
    return _operations(workspace).resolve(reference)


def _compact(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


def register(app: typer.Typer) -> None:
    app.add_typer(environment_app, name="environment")
