"""``mlkube doctor PATH``: preflight checks of a model folder, a score.py folder or a
deployment YAML, printed as a list of findings with their fixes; exit code 1 on errors.

Only typer is imported at module level: the checks (and mlflow's YAML, pydantic) load
when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mlkube.cli.output import OUTPUT_OPTION, OutputFormat, emit
from mlkube.cli.workspace import WORKSPACE_OPTION, open_workspace

_MARKS = {"error": ("ERROR", typer.colors.RED), "warning": ("WARN ", typer.colors.YELLOW),
          "info": ("ok   ", typer.colors.GREEN), "note": ("note ", typer.colors.BLUE)}


def doctor(
    path: Path = typer.Argument(..., help="Model folder, folder with score.py, score.py, "
                                "online deployment YAML or online endpoint YAML."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds allowed for importing the "
                                  "entry script."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Show only errors and warnings."),
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Check a model, scoring script, deployment or endpoint before deploying it.

    Registered models a deployment names are looked up in the workspace.
    """
    from mlkube.doctor import diagnose
    from mlkube.doctor.findings import has_errors, sort_findings, summarize

    findings = sort_findings(diagnose(path, timeout=timeout,
                                      find_model=_model_lookup(workspace)))
    counts = summarize(findings)
    if output is not OutputFormat.table:
        emit({"path": str(path), "ok": not has_errors(findings), "counts": counts,
              "findings": [f.to_dict() for f in findings]}, output)
    else:
        typer.echo(f"mlkube doctor {path}")
        for finding in findings:
            if quiet and finding.severity == "info":
                continue
            # Information that comes with a fix is a note to read, not a passed check.
            kind = "note" if finding.severity == "info" and finding.fix else finding.severity
            label, colour = _MARKS[kind]
            typer.secho(f"  {label} ", fg=colour, nl=False)
            typer.echo(f"[{finding.code}] {finding.message}")
            if finding.fix:
                typer.echo(f"         fix: {finding.fix}")
        typer.echo(f"{counts['error']} error(s), {counts['warning']} warning(s), "
                   f"{counts['info']} passed/info.")
    if has_errors(findings):
        raise typer.Exit(1)


def _model_lookup(workspace: Path | None) -> Any:
    """Looks references up in the workspace, without creating one that does not exist."""

    def find(reference: str) -> Any:
        from mlkube.errors import ResourceNotFoundError
        from mlkube.operations.models import ModelOperations

        opened = open_workspace(workspace)
        if opened.location.embedded and not opened.root.exists():
            raise ResourceNotFoundError(
                f"The workspace {opened.root} does not exist yet, so it has no models.",
                hint="Register the model (`mlkube model create`), or point --workspace / "
                "--workspace-name at the workspace that has it.")
        return ModelOperations(opened).get(reference)

    return find


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
