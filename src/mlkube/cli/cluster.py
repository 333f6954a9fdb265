"""`mlkube cluster install|uninstall|user-role` and `mlkube compute check`: preparing an
attached Kubernetes cluster, and asking whether this machine can deploy to it.

`cluster install` is the seed's "deploy the extension" step: idempotent, and `cluster
uninstall` removes only what it made. `cluster user-role` prints the Role a deploying
user needs, for an administrator to bind. `compute check` is registered on the `compute`
group. Only typer is imported at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mlkube.cli.output import OUTPUT_OPTION, OutputFormat, emit
from mlkube.cli.workspace import WORKSPACE_OPTION, open_workspace

cluster_app = typer.Typer(name="cluster", no_args_is_help=True,
                          help="Prepare an attached Kubernetes cluster for mlkube endpoints.")
COMPUTE_OPTION = typer.Option(..., "--compute", "-c", help="Name of the attached compute.")


def _compute(name: str, workspace: Path | None) -> Any:
    from mlkube.entities.compute import KubernetesCompute
    from mlkube.errors import ValidationError
    from mlkube.operations.computes import ComputeOperations

    compute = ComputeOperations(open_workspace(workspace)).get(name)
    if not isinstance(compute, KubernetesCompute):
        raise ValidationError(f"Compute {name!r} is {compute.type}, not a Kubernetes cluster.",
                              hint="Name a compute attached with `mlkube compute attach`.")
    return compute


def _connect(compute: Any) -> Any:
    from mlkube.targets.kubernetes.cluster import Cluster

    return Cluster.connect(kubeconfig=compute.kubeconfig, context=compute.context,
                           namespace=compute.namespace)


def _progress(line: str) -> None:
    typer.echo(line, err=True)


@cluster_app.command("install")
def install(
    compute: str = COMPUTE_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Print the objects as YAML instead of applying them."),
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Prepare the compute's namespace for endpoints (safe to rerun).

    Creates the namespace if missing, mlkube's workload ServiceAccount (no API access),
    and the NetworkPolicy that lets only gateways reach inference servers.
    """
    from mlkube.targets.kubernetes import install as installer

    target = _compute(compute, workspace)
    if dry_run:
        from mlkube.targets.kubernetes.render import dump_manifests

        typer.echo(dump_manifests(installer.install_manifests(target.namespace)), nl=False)
        return
    cluster = _connect(target)
    try:
        applied = installer.install(cluster, progress=_progress)
    finally:
        cluster.close()
    emit({"compute": compute, "namespace": target.namespace, "applied": applied}, output)


@cluster_app.command("uninstall")
def uninstall(
    compute: str = COMPUTE_OPTION,
    force: bool = typer.Option(False, "--force",
                               help="Uninstall even though endpoints remain in the namespace."),
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Remove what `cluster install` made (and its namespace only if install created it)."""
    from mlkube.targets.kubernetes import install as installer

    target = _compute(compute, workspace)
    cluster = _connect(target)
    try:
        deleted = installer.uninstall(cluster, progress=_progress, force=force)
    finally:
        cluster.close()
    emit({"compute": compute, "namespace": target.namespace, "deleted": deleted}, output)


@cluster_app.command("user-role")
def user_role(
    compute: str | None = typer.Option(None, "--compute", "-c",
                                       help="Attached compute (its namespace)."),
    namespace: str | None = typer.Option(None, "--namespace", "-n",
                                         help="Namespace, instead of a compute's."),
    subject: str | None = typer.Option(None, "--subject", help="User (or group, or "
                                       "ServiceAccount) to bind the Role to."),
    subject_kind: str = typer.Option("User", "--subject-kind",
                                     help="User, Group or ServiceAccount."),
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Print the Role a user deploying with mlkube needs, for an admin to apply.

    With --subject, a RoleBinding too. Pipe it into `kubectl apply -f -`.
    """
    from mlkube.errors import ValidationError
    from mlkube.targets.kubernetes.install import deployer_role
    from mlkube.targets.kubernetes.render import dump_manifests

    if subject_kind not in ("User", "Group", "ServiceAccount"):
        raise ValidationError(f"--subject-kind {subject_kind!r} is not a subject kind.",
                              hint="Use User, Group or ServiceAccount.")
    if namespace is None:
        if compute is None:
            raise ValidationError("Say which namespace the Role is for.",
                                  hint="Pass --compute NAME or --namespace NS.")
        namespace = _compute(compute, workspace).namespace
    typer.echo(dump_manifests(deployer_role(namespace, subject=subject,
                                            subject_kind=subject_kind)), nl=False)


def check(
    name: str = typer.Argument(..., help="Name of the attached compute."),
    workspace: Path | None = WORKSPACE_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Check a Kubernetes compute before deploying to it.

    Is the registry set, does the API server answer, does the namespace exist, and may
    this identity do everything mlkube does there? Exit code 1 if anything is missing.
    """
    from mlkube.targets.kubernetes.compute_check import findings, gather

    compute = _compute(name, workspace)
    found = findings(gather(compute, connect=lambda: _connect(compute)))
    if output is OutputFormat.table:
        marks = {"error": "FAIL", "warning": "WARN", "info": " ok "}
        for finding in found:
            typer.echo(f"[{marks[finding.severity]}] {finding.message}")
            if finding.fix:
                typer.echo(f"       fix: {finding.fix}")
    else:
        emit([f.to_dict() for f in found], output)
    if any(f.severity == "error" for f in found):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    from mlkube.cli.compute import compute_app

    app.add_typer(cluster_app)
    # `compute check` belongs with the other compute commands; it is defined here because
    # it is Kubernetes I/O.
    compute_app.command("check")(check)
