"""``mlkube studio``: serve the web portal for the workspace (``mlkube.studio``).

Prints the URL to open, with its token, as the first line on stdout; the access log
(paths only, never the token) goes to stderr.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mlkube.cli.online_endpoint import client
from mlkube.cli.workspace import WORKSPACE_OPTION


def studio(
    port: int = typer.Option(8080, "--port", "-p", help="Port to listen on (0: a free one)."),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Address to listen on (loopback unless --allow-remote)."),
    allow_remote: bool = typer.Option(
        False, "--allow-remote",
        help="Allow a non-loopback --host; the printed token is still required."),
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Serve mlkube studio: models, jobs and endpoints in the browser.

    Open the URL it prints (it carries a token, new at every start).
    """
    from mlkube.studio.serving import run_studio

    run_studio(client(workspace), host=host, port=port, allow_remote=allow_remote)


def register(app: typer.Typer) -> None:
    app.command("studio")(studio)
