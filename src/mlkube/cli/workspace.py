"""``mlkube workspace show``: where the workspace is and how plain MLflow reaches it.

Also the ``--workspace`` option and the opener that the model, job and compute commands
share. Only typer is imported at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mlkube.cli.output import OUTPUT_OPTION, OutputFormat, emit

workspace_app = typer.Typer(name="workspace", help="Show the workspace.",
                            no_args_is_help=True)

WORKSPACE_OPTION = typer.Option(
    None, "--workspace", "-w", envvar="MLKUBE_WORKSPACE",
    help="Workspace folder (default: $MLKUBE_WORKSPACE or ./.mlkube). A shared store is "
    "set with $MLKUBE_TRACKING_URI.",
)


def open_workspace(folder: Path | None) -> Any:
    """The workspace named by ``--workspace`` or the environment (see ``Workspace.open``)."""
    from mlkube.workspace.workspace import Workspace

    return Workspace.open(workspace=folder)


def plain(value: Any) -> Any:
    """A value as a table cell: mappings and lists on one line."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value


@workspace_app.command("show")
def show(
    show_secrets: bool = typer.Option(
        False, "--show-secrets", help="Print the database password in the tracking URI."),
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Show the workspace folder, its MLflow tracking URI and artifact location.

    Point plain MLflow at the tracking URI (mlflow.set_tracking_uri / MLFLOW_TRACKING_URI)
    to see the same runs and registered models.
    """
    ws = open_workspace(workspace)
    data = ws.describe(show_secrets=show_secrets)
    ws.client  # noqa: B018 - creates the store on first use, as every command does
    emit(data, output)


def register(app: typer.Typer) -> None:
    app.add_typer(workspace_app)
