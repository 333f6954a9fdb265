"""``mlkube serve``'s flags and start, without a CLI framework.

Every endpoint instance starts with ``mlkube serve`` in a model's environment, and
seconds to first score is what users feel most. Behind typer, the command imported the
CLI framework and what it pulls in when installed (pydantic and narwhals are, in every
MLflow environment): 1–2 s of each instance's start on a busy machine, for parsing
eleven flags. So the flags live here, on argparse, and the ``mlkube`` command hands
``serve`` straight to this module (``mlkube.cli.launcher``); ``python -m mlkube.server``
is the same command.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from mlkube.errors import MlkubeError
from mlkube.server.settings import ServerSettings

DESCRIPTION = "Serve a model: POST /score, /invocations, /v2/models/<name>/infer."


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # The shape of every mlkube command's usage error: what was wrong, where the
        # right options are listed.
        print(f"Error: {message}", file=sys.stderr)
        print(f"Hint: `{self.prog} --help` lists the options.", file=sys.stderr)
        sys.exit(2)


def parser(prog: str = "mlkube serve") -> argparse.ArgumentParser:
    """The flags; each overrides its Azure ML environment variable."""
    flags = _Parser(
        prog=prog, description=DESCRIPTION + " Flags override the Azure ML environment "
        "variables (AZUREML_MODEL_DIR, AZUREML_ENTRY_SCRIPT, SERVER_PORT, ...), so the "
        "seed container layout works with a bare `mlkube serve`.")
    add = flags.add_argument
    add("--model-dir", metavar="DIR", help="Model folder (an MLflow model, or its parent "
        "as on Azure ML). Default: $AZUREML_MODEL_DIR.")
    add("--entry-script", metavar="SCORE_PY", help="score.py with init() and run(); "
        "without it the MLflow model is served with no code. Default: "
        "$AZUREML_ENTRY_SCRIPT.")
    add("--port", metavar="N", type=int, help="Port. Default: $SERVER_PORT or 5001.")
    add("--host", metavar="ADDRESS",
        help="Address to listen on. Default: 127.0.0.1 (0.0.0.0 in containers).")
    add("--workers", metavar="N", type=int,
        help="Worker processes, each with its own model. Default: $WORKER_COUNT or 1.")
    add("--batch", action=argparse.BooleanOptionalAction, default=None,
        help="Micro-batch concurrent no-code requests into one predict. Default: off "
        "($MLKUBE_BATCHING).")
    add("--max-batch-size", metavar="N", type=int,
        help="Most requests in one batch (default 64).")
    add("--max-batch-wait-ms", metavar="MS", type=float,
        help="Extra time a batch waits to fill (default 0).")
    add("--max-request-mb", metavar="MB", type=float,
        help="Largest accepted request body in MB (default 100).")
    add("--scoring-timeout-ms", metavar="MS", type=int,
        help="Answer 504 after this long (default $SCORING_TIMEOUT_MS or 3600000).")
    add("--scoring-threads", metavar="N", type=int, help="Threads running predict/run "
        "(default 1: run() is never called concurrently, as on Azure ML).")
    return flags


def settings_from(args: argparse.Namespace) -> ServerSettings:
    return ServerSettings.from_env(
        os.environ,
        model_dir=os.path.abspath(args.model_dir) if args.model_dir else None,
        entry_script=os.path.abspath(args.entry_script) if args.entry_script else None,
        port=args.port,
        host=args.host,
        workers=args.workers,
        batching=args.batch,
        max_batch_size=args.max_batch_size,
        max_batch_wait_ms=args.max_batch_wait_ms,
        max_request_bytes=(int(args.max_request_mb * 1024 * 1024)
                           if args.max_request_mb else None),
        scoring_timeout_ms=args.scoring_timeout_ms,
        scoring_threads=args.scoring_threads,
    )


def start(settings_factory: Callable[[], ServerSettings]) -> None:
    """Build the settings (a bad value is an error and a hint, exit 1), then serve."""
    try:
        settings = settings_factory()
    except MlkubeError as error:
        print(f"Error: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"Hint: {error.hint}", file=sys.stderr)
        sys.exit(1)
    from mlkube.server.runner import serve

    serve(settings)


def main(argv: list[str] | None = None, *, prog: str = "mlkube serve") -> None:
    args = parser(prog).parse_args(argv)
    start(lambda: settings_from(args))


if __name__ == "__main__":
    main()
