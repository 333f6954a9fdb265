"""``mlkube serve``: run the inference server on this machine or inside a container.

The flags are defined once, in ``mlkube.server.command`` (argparse, so an instance
starts without the CLI framework; ``mlkube.cli.launcher`` sends ``mlkube serve`` there
directly). This command only lists ``serve`` in ``mlkube --help`` and passes its
arguments on when it is reached through the full CLI (``mlkube --debug serve ...``).
"""

from __future__ import annotations

import typer

from mlkube.server.command import DESCRIPTION


def serve(context: typer.Context) -> None:
    from mlkube.server.command import main

    main(list(context.args))


def register(app: typer.Typer) -> None:
    app.command(
        "serve", help=DESCRIPTION + " See `mlkube serve --help` for the flags.",
        add_help_option=False,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(serve)
