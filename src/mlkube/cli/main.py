"""Entry point of the `mlkube` command: assembles the command groups and turns errors
into a message, a hint and exit code 1 (a traceback only with --debug).

Each module in ``COMMAND_MODULES`` defines ``register(app)``. Modules import the heavy
layers (mlflow, operations) inside their commands, so `mlkube serve` in a model's
environment starts without the control plane installed.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from mlkube.errors import MlkubeError

COMMAND_MODULES = [
    "mlkube.cli.serve",
    "mlkube.cli.gateway",
    "mlkube.cli.k8s",
    "mlkube.cli.environment",
    "mlkube.cli.doctor",
    "mlkube.cli.workspace",
    "mlkube.cli.model",
    "mlkube.cli.job",
    "mlkube.cli.compute",
    "mlkube.cli.cluster",
    "mlkube.cli.online_endpoint",
    "mlkube.cli.online_deployment",
    "mlkube.cli.registry_watch",
    "mlkube.cli.studio",
]

app = typer.Typer(
    name="mlkube",
    help="Deploy MLflow models as authenticated online endpoints: local, Docker, Kubernetes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # --install-completion / --show-completion for bash, zsh, fish and PowerShell.
    add_completion=True,
)


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback when a command fails.",
        envvar="MLKUBE_DEBUG",
    ),
    workspace_name: str | None = typer.Option(
        None, "--workspace-name", envvar="MLKUBE_WORKSPACE_NAME",
        help="Use the workspace of this name, as MLClient(workspace_name=...) does (a "
        "command's --workspace folder still wins)."),
) -> None:
    if debug:
        os.environ["MLKUBE_DEBUG"] = "1"
    if workspace_name:
        # Read by the one workspace resolution every command (and MLClient) goes through.
        os.environ["MLKUBE_WORKSPACE_NAME"] = workspace_name


COMPLETION_SHELLS = ("bash", "zsh", "fish", "powershell")


@app.command("completion")
def completion(shell: str = typer.Argument(..., help="bash, zsh, fish or powershell.")) -> None:
    """Print the shell completion script for SHELL (e.g. `source <(mlkube completion bash)`).

    Unlike --show-completion, the shell is named, not guessed from the parent process:
    this works in scripts, containers and CI, where that process is often `sh`.
    """
    from typer.completion import get_completion_script

    from mlkube.errors import ValidationError

    if shell not in COMPLETION_SHELLS:
        raise ValidationError(f"There is no completion for shell {shell!r}.",
                              hint=f"Name one of {', '.join(COMPLETION_SHELLS)}.")
    typer.echo(get_completion_script(prog_name="mlkube", complete_var="_MLKUBE_COMPLETE",
                                     shell=shell))


def _register_commands() -> None:
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(app)


def print_error(error: BaseException) -> None:
    """Print an error the way every mlkube command does: message, then hint."""
    if isinstance(error, MlkubeError):
        typer.secho(f"Error: {error.message}", fg=typer.colors.RED, err=True)
        if error.hint:
            typer.echo(f"Hint: {error.hint}", err=True)
    else:
        typer.secho(f"Error: {type(error).__name__}: {error}", fg=typer.colors.RED, err=True)
        typer.echo("Hint: rerun with --debug for the traceback.", err=True)


def _is_usage_error(error: BaseException) -> bool:
    # Typer vendors its own click (typer._click): recognise either by their shape.
    return hasattr(error, "format_message") and hasattr(error, "exit_code")


def print_usage_error(error: BaseException) -> None:
    """A wrong command, option or value: what was wrong (with click's did-you-mean) and
    where the right ones are listed, never a pointer to a traceback."""
    context = getattr(error, "ctx", None)
    command = getattr(context, "command_path", None) or "mlkube"
    # Typer's value conversion words enum errors as pydantic does ("Value error, ...").
    message = error.format_message().replace("Value error, ", "")  # type: ignore[attr-defined]
    possibilities = getattr(error, "possibilities", None)
    if possibilities and getattr(error, "option_name", None):
        message = (f"No such option: {error.option_name}. "  # type: ignore[attr-defined]
                   f"Did you mean {' or '.join(sorted(possibilities))}?")
    typer.secho(f"Error: {message}", fg=typer.colors.RED, err=True)
    typer.echo(f"Hint: `{command} --help` lists the commands and options.", err=True)


def main(argv: list[str] | None = None) -> None:
    # With a tracking server, MLflow writes "View run ... / View experiment ..." to stdout
    # when a run ends (model uploads are runs): stdout is the command's result (-o json).
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    _register_commands()
    debug = "--debug" in (argv or sys.argv[1:]) or os.environ.get("MLKUBE_DEBUG") == "1"
    try:
        # Without standalone mode, click returns a command's typer.Exit(code) instead of
        # exiting with it.
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # the one place every error is reported
        if _is_usage_error(error):
            print_usage_error(error)
            sys.exit(getattr(error, "exit_code", 2))
        if debug:
            import traceback

            traceback.print_exc()
        print_error(error)
        sys.exit(1)


if __name__ == "__main__":
    main()
