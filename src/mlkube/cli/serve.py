"""``mlkube serve``: run the inference server on this machine or inside a container.

Flags override the Azure ML environment variables, so the seed container layout
(``AZUREML_MODEL_DIR``, ``AML_APP_ROOT``, ``AZUREML_ENTRY_SCRIPT`` ...) works with a
bare ``mlkube serve``. Only the server package is imported, to start fast inside a
model's environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

# typer reads these annotations at runtime: keep Optional[...] for Python 3.10 typer.
ModelDirOption = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    "--model-dir", help="Model folder (an MLflow model, or its parent as on Azure ML). "
    "Default: $AZUREML_MODEL_DIR.")]
EntryScriptOption = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    "--entry-script", help="score.py with init() and run(); without it the MLflow model "
    "is served with no code. Default: $AZUREML_ENTRY_SCRIPT.")]
PortOption = Annotated[Optional[int], typer.Option(  # noqa: UP045
    "--port", help="Port. Default: $SERVER_PORT or 5001.")]
HostOption = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--host", help="Address to listen on. Default: 127.0.0.1 (0.0.0.0 in containers).")]
WorkersOption = Annotated[Optional[int], typer.Option(  # noqa: UP045
    "--workers", help="Worker processes, each with its own model. Default: $WORKER_COUNT "
    "or 1.")]
BatchOption = Annotated[Optional[bool], typer.Option(  # noqa: UP045
    "--batch/--no-batch", help="Micro-batch concurrent no-code requests into one predict. "
    "Default: off ($MLKUBE_BATCHING).")]
MaxBatchSizeOption = Annotated[Optional[int], typer.Option(  # noqa: UP045
    "--max-batch-size", help="Most requests in one batch (default 64).")]
MaxBatchWaitOption = Annotated[Optional[float], typer.Option(  # noqa: UP045
    "--max-batch-wait-ms", help="Extra time a batch waits to fill (default 0).")]
MaxRequestOption = Annotated[Optional[float], typer.Option(  # noqa: UP045
    "--max-request-mb", help="Largest accepted request body in MB (default 100).")]
TimeoutOption = Annotated[Optional[int], typer.Option(  # noqa: UP045
    "--scoring-timeout-ms", help="Answer 504 after this long (default $SCORING_TIMEOUT_MS "
    "or 3600000).")]
ThreadsOption = Annotated[Optional[int], typer.Option(  # noqa: UP045
    "--scoring-threads", help="Threads running predict/run (default 1: run() is never "
    "called concurrently, as on Azure ML).")]
def serve(
    model_dir: ModelDirOption = None,
    entry_script: EntryScriptOption = None,
    port: PortOption = None,
    host: HostOption = None,
    workers: WorkersOption = None,
    batch: BatchOption = None,
    max_batch_size: MaxBatchSizeOption = None,
    max_batch_wait_ms: MaxBatchWaitOption = None,
    max_request_mb: MaxRequestOption = None,
    scoring_timeout_ms: TimeoutOption = None,
    scoring_threads: ThreadsOption = None,
) -> None:
    """Serve a model: POST /score, /invocations, /v2/models/<name>/infer."""
    from mlkube.server.runner import serve as run_server
    from mlkube.server.settings import ServerSettings

    settings = ServerSettings.from_env(
        os.environ,
        model_dir=str(model_dir.resolve()) if model_dir else None,
        entry_script=str(entry_script.resolve()) if entry_script else None,
        port=port,
        host=host,
        workers=workers,
        batching=batch,
        max_batch_size=max_batch_size,
        max_batch_wait_ms=max_batch_wait_ms,
        max_request_bytes=int(max_request_mb * 1024 * 1024) if max_request_mb else None,
        scoring_timeout_ms=scoring_timeout_ms,
        scoring_threads=scoring_threads,
    )
    run_server(settings)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
