"""``mlkube compute list|show|attach|detach``: the built-in ``local`` and ``docker``
computes and attached Kubernetes clusters. Only typer is imported at module level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mlkube.cli.output import OUTPUT_OPTION, OutputFormat, emit
from mlkube.cli.workspace import WORKSPACE_OPTION, open_workspace, plain

compute_app = typer.Typer(name="compute", help="List computes; attach Kubernetes clusters.",
                          no_args_is_help=True)
_COLUMNS = ("name", "type", "namespace", "context", "registry", "description")


def _operations(workspace: Path | None) -> Any:
    from mlkube.operations.computes import ComputeOperations

    return ComputeOperations(open_workspace(workspace))


def _summary(compute: Any, output: OutputFormat) -> dict[str, Any]:
    data = compute.to_dict()
    return {k: plain(v) for k, v in data.items()} if output is OutputFormat.table else data


@compute_app.command("list")
def list_(
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """List the computes: local, docker and attached clusters."""
    emit([_summary(c, output) for c in _operations(workspace).list()], output,
         columns=_COLUMNS)


@compute_app.command("show")
def show(
    name: str = typer.Option(..., "--name", "-n", help="Compute name."),
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Show one compute."""
    emit(_summary(_operations(workspace).get(name), output), output)


@compute_app.command("attach")
def attach(
    file: Path | None = typer.Option(None, "--file", "-f", help="Compute YAML."),
    name: str | None = typer.Option(None, "--name", "-n", help="Name to attach it under."),
    kubeconfig: Path | None = typer.Option(None, "--kubeconfig",
                                           help="kubeconfig file (default: at use time, "
                                           "$KUBECONFIG or ~/.kube/config)."),
    context: str | None = typer.Option(None, "--context", help="kubeconfig context."),
    namespace: str | None = typer.Option(None, "--namespace", help="Namespace (default: "
                                         "default)."),
    registry: str | None = typer.Option(None, "--registry",
                                        help="Image registry the cluster pulls from."),
    set_: list[str] = typer.Option([], "--set", help="Override a field: field=value."),
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Attach a Kubernetes cluster as a compute."""
    from mlkube.entities.base import apply_set, load_yaml_mapping
    from mlkube.entities.compute import KubernetesCompute

    data: dict[str, Any] = load_yaml_mapping(file) if file is not None else {}
    for assignment in set_:
        apply_set(data, assignment)
    flags = {"name": name, "context": context, "namespace": namespace, "registry": registry,
             "kubeconfig": str(kubeconfig.expanduser().resolve()) if kubeconfig else None}
    data.update({k: v for k, v in flags.items() if v is not None})
    data.setdefault("type", "kubernetes")
    compute = KubernetesCompute.from_dict(
        data, source=str(file) if file else "flags",
        base_path=str(file.parent) if file else None)
    emit(_summary(_operations(workspace).attach(compute), output), output)


@compute_app.command("detach")
def detach(
    name: str = typer.Option(..., "--name", "-n", help="Compute name."),
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Detach a Kubernetes compute (the cluster itself is not touched)."""
    _operations(workspace).detach(name)
    emit({"name": name, "detached": True}, output)


def register(app: typer.Typer) -> None:
    app.add_typer(compute_app)
