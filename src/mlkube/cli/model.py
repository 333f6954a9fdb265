"""``mlkube model create|list|show|download``: registered models, from Azure ML v2 YAML
(``-f``) or flags. Only typer is imported at module level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mlkube.cli.output import OUTPUT_OPTION, OutputFormat, emit
from mlkube.cli.workspace import WORKSPACE_OPTION, open_workspace, plain

model_app = typer.Typer(name="model", help="Register, list, show and download models.",
                        no_args_is_help=True)
_COLUMNS = ("name", "version", "type", "created_at", "job_name", "path")


def _operations(workspace: Path | None) -> Any:
    from mlkube.operations.models import ModelOperations

    return ModelOperations(open_workspace(workspace))


def _summary(model: Any, output: OutputFormat) -> dict[str, Any]:
    data = model.to_dict()
    data["created_at"] = (model.creation_context or {}).get("created_at", "")
    if output is OutputFormat.table:
        data.pop("creation_context", None)
        return {k: plain(v) for k, v in data.items()}
    return data


@model_app.command("create")
def create(
    file: Path | None = typer.Option(None, "--file", "-f", help="Model YAML (Azure ML v2)."),
    name: str | None = typer.Option(None, "--name", "-n", help="Model name."),
    version: str | None = typer.Option(None, "--version", "-v",
                                       help="Version (default: the next one)."),
    path: str | None = typer.Option(
        None, "--path", "-p", help="Local folder, jobs:/<job>/outputs/artifacts/paths/model, "
        "runs:/<run>/<path> or models:/<name>/<version>."),
    type_: str | None = typer.Option(None, "--type", "-t",
                                     help="mlflow_model or custom_model."),
    description: str | None = typer.Option(None, "--description", "-d"),
    set_: list[str] = typer.Option([], "--set", help="Override a field: field.sub=value."),
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Register a new model version."""
    from mlkube.entities.base import apply_set, is_uri
    from mlkube.entities.model import Model

    if file is not None:
        data: dict[str, Any] = {}
        model = Model.from_yaml(file, overrides=set_)
    else:
        data = {}
        for assignment in set_:
            apply_set(data, assignment)
        model = Model.from_dict(data, source="--set flags")
    if path is not None:
        model.path = path if is_uri(path) else str(Path(path).expanduser().resolve())
    for field, value in {"name": name, "version": version, "type": type_,
                         "description": description}.items():
        if value is not None:
            setattr(model, field, value)
    created = _operations(workspace).create_or_update(model)
    emit(_summary(created, output), output)


@model_app.command("list")
def list_(
    name: str | None = typer.Option(None, "--name", "-n",
                                    help="Every version of this model (default: the latest "
                                    "version of every model)."),
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """List models (the latest version of each), or every version of one."""
    rows = [_summary(m, output) for m in _operations(workspace).list(name)]
    emit(rows, output, columns=_COLUMNS)


@model_app.command("show")
def show(
    name: str = typer.Option(..., "--name", "-n", help="Model name."),
    version: str | None = typer.Option(None, "--version", "-v"),
    label: str | None = typer.Option(None, "--label", "-l",
                                     help="'latest' (default) or an MLflow alias."),
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Show one model version."""
    model = _operations(workspace).get(name, version=version, label=label)
    emit(_summary(model, output), output)


@model_app.command("download")
def download(
    name: str = typer.Option(..., "--name", "-n", help="Model name."),
    version: str | None = typer.Option(None, "--version", "-v",
                                       help="Version (default: latest)."),
    download_path: Path = typer.Option(
        Path("."), "--download-path", "-p",
        help="Folder to download into; files land in <download-path>/<name>/<folder>/."),
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Download a model version's files (Azure ML's layout)."""
    operations = _operations(workspace)
    model = operations.get(name, version=version)
    target = operations.download(str(model.name), version=model.version,
                                 download_path=download_path)
    emit({"name": model.name, "version": model.version, "path": str(target)}, output)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app)
