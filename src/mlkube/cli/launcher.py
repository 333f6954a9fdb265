"""The ``mlkube`` command's entry point.

``mlkube serve`` is how every endpoint instance starts, inside a model's environment, so
it goes straight to the inference server's own small command (``mlkube.server.command``)
without importing the CLI framework; every other command goes to ``mlkube.cli.main``.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        from mlkube.server.command import main as serve

        serve(sys.argv[2:])
        return
    from mlkube.cli.main import main as cli

    cli()
