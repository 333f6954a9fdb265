"""``python -m mlkube.server``: the same command as ``mlkube serve`` (see ``command.py``)."""

from mlkube.server.command import main

main(prog="python -m mlkube.server")
