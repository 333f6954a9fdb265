"""``mlkube watch-registry``: roll deployments that follow their model's label out again
when the label moves (``operations.registry_watcher``).

Locally nobody needs to run it: an endpoint's supervisor runs one for the endpoint while
a deployment of it follows a label. Run it by hand (or as a service) for endpoints on
Kubernetes, anywhere the workspace (``--workspace`` / ``$MLKUBE_TRACKING_URI``) and the
attached compute are reachable; ``--once`` polls once and exits (cron, CI).
"""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from mlkube.cli.online_endpoint import client
from mlkube.cli.workspace import WORKSPACE_OPTION


def watch_registry(
    endpoint: list[str] = typer.Option(
        [], "--endpoint", "-e",
        help="Watch only this endpoint (repeat for more); default: every endpoint."),
    interval: float = typer.Option(5.0, "--interval", min=0.1,
                                   help="Seconds between polls of the registry."),
    once: bool = typer.Option(False, "--once", help="Poll once, then exit."),
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Roll out deployments with follow_model_label whose label names a new version."""
    from mlkube.operations.registry_watcher import RegistryWatcher

    def log(line: str) -> None:
        typer.echo(line, err=True)

    watcher = RegistryWatcher(client(workspace), endpoints=list(endpoint) or None, log=log)
    if once:
        watcher.poll()
        return
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    watched = ", ".join(endpoint) if endpoint else "every endpoint"
    log(f"watching the registry for {watched} every {interval:g} s")
    try:
        watcher.run(interval_s=interval, until=lambda: bool(stopping))
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    app.command("watch-registry")(watch_registry)
