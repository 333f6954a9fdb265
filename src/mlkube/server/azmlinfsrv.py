"""``azmlinfsrv``: a drop-in for azureml-inference-server-http's command, same flags.

Container images and scripts that start ``azmlinfsrv --entry_script score.py`` keep
working; the flags map onto ``ServerSettings`` (env vars still apply underneath).
"""

from __future__ import annotations

import argparse
import os

from mlkube.server.command import start
from mlkube.server.settings import ServerSettings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="azmlinfsrv", description="mlkube's inference server, with azmlinfsrv's flags.")
    parser.add_argument("--entry_script", help="The score.py to run (init/run).")
    parser.add_argument("--model_dir", help="The model folder (AZUREML_MODEL_DIR).")
    parser.add_argument("--port", type=int, help="Port to listen on (default 5001).")
    parser.add_argument("--worker_count", type=int, help="Worker processes (default 1).")
    parser.add_argument("--appinsights_instrumentation_key", help=argparse.SUPPRESS)
    parser.add_argument("--access_control_allow_origins",
                        help="Comma-separated origins allowed by CORS.")
    parser.add_argument("--host", help="Address to listen on (default 127.0.0.1).")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    entry = os.path.abspath(args.entry_script) if args.entry_script else None
    origins = None
    if args.access_control_allow_origins:
        origins = tuple(o.strip() for o in args.access_control_allow_origins.split(","))
    start(lambda: ServerSettings.from_env(
        os.environ, entry_script=entry, model_dir=args.model_dir, port=args.port,
        workers=args.worker_count, host=args.host, cors_origins=origins,
    ))


if __name__ == "__main__":
    main()
