"""The servers compared, and how each is started: one worker each, same model.

A peer is a name, the request format it accepts, the route it scores on, and a function
that turns the benchmark's paths and ports into a command line, environment and working
folder. Nothing here starts a process.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from payloads import AZUREML_DATA, MLFLOW_SPLIT, V2_COLUMNS, V2_TENSOR, BodyFormat

# Adaptive batching settings shared by MLServer and mlkube, so "batching on" means the
# same thing for both: up to this many requests, waiting at most this long for them.
BATCH_MAX_SIZE = 64
BATCH_MAX_TIME_S = 0.005
BENCH = Path(__file__).resolve().parent
# mlkube batches whatever queued while the previous batch ran, so it needs no wait (its
# default); MLServer's batcher needs one to gather anything at all.
MLKUBE_BATCH_WAIT_MS = 0
# Triton's max_batch_size counts rows, not requests, and also bounds one request's rows:
# room for the largest body the benchmarks send (10,000 rows).
PYTRITON_MAX_BATCH_ROWS = 10_000


@dataclass(frozen=True)
class Paths:
    """Where things are: the repo, the trained model, the peers' virtualenvs."""

    repo: Path
    model_root: Path  # what AZUREML_MODEL_DIR points at; the MLflow model is model_root/model
    venvs: Path
    work: Path

    @property
    def model_dir(self) -> Path:
        return self.model_root / "model"

    @property
    def seed_score_py(self) -> Path:
        return self.repo / "examples" / "seed" / "scoring" / "score.py"

    @property
    def main_bin(self) -> Path:
        return self.repo / ".venv" / "bin"


@dataclass(frozen=True)
class Launch:
    """What to run: argv, environment and working folder."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    # For a server whose port and credentials are only known once it runs (an endpoint):
    # the file it writes then, JSON with "port", "path" and "headers" (see run.py).
    ready_file: Path | None = None
    # Ask the root process alone to stop first, so it can take its children down in order.
    root_first: bool = False


@dataclass(frozen=True)
class Ports:
    """A free port for HTTP, and spare ones for servers that open more listeners."""

    http: int
    spare: tuple[int, ...] = ()


@dataclass(frozen=True)
class Peer:
    key: str
    label: str
    body: BodyFormat
    path: str
    venv: str | None  # a virtualenv under bench/.work/venvs, or None for the repo's .venv
    launch: Callable[[Paths, Ports, Path], Launch]
    # A route that does no scoring, measured on the same server as the floor of its stack.
    noop_path: str | None = None
    notes: list[str] = field(default_factory=list)

    def bin_dir(self, paths: Paths) -> Path:
        return paths.venvs / self.venv / "bin" if self.venv else paths.main_bin


def _env(bin_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def _azmlinfsrv(paths: Paths, ports: Ports, workdir: Path) -> Launch:
    bin_dir = paths.venvs / "azmlinfsrv" / "bin"
    return Launch(
        argv=[str(bin_dir / "azmlinfsrv"), "--entry_script", str(paths.seed_score_py),
              "--model_dir", str(paths.model_root), "--port", str(ports.http),
              "--worker_count", "1"],
        env=_env(bin_dir),
        cwd=workdir,
    )


def _mlflow_serve(paths: Paths, ports: Ports, workdir: Path) -> Launch:
    bin_dir = paths.venvs / "mlflow" / "bin"
    return Launch(
        argv=[str(bin_dir / "mlflow"), "models", "serve", "-m", str(paths.model_dir),
              "--env-manager", "local", "-h", "127.0.0.1", "-p", str(ports.http), "-w", "1"],
        env=_env(bin_dir),
        cwd=workdir,
    )


def _mlserver(*, batching: bool) -> Callable[[Paths, Ports, Path], Launch]:
    def launch(paths: Paths, ports: Ports, workdir: Path) -> Launch:
        bin_dir = paths.venvs / "mlserver" / "bin"
        repo = workdir / "models"
        (repo / "iris").mkdir(parents=True, exist_ok=True)
        grpc_port, metrics_port = ports.spare[:2]
        (repo / "settings.json").write_text(json.dumps({
            "host": "127.0.0.1", "http_port": ports.http, "grpc_port": grpc_port,
            "metrics_port": metrics_port,
            # Inference in the server process itself: one process, like the others.
            "parallel_workers": 0,
        }, indent=2))
        model_settings = {
            "name": "iris",
            "implementation": "mlserver_mlflow.MLflowRuntime",
            "parameters": {"uri": str(paths.model_dir)},
        }
        if batching:
            model_settings |= {"max_batch_size": BATCH_MAX_SIZE,
                               "max_batch_time": BATCH_MAX_TIME_S}
        (repo / "iris" / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
        return Launch(argv=[str(bin_dir / "mlserver"), "start", str(repo)],
                      env=_env(bin_dir, MLSERVER_PARALLEL_WORKERS="0"), cwd=workdir)

    return launch


def _mlkube(*, entry_script: bool, batching: bool) -> Callable[[Paths, Ports, Path], Launch]:
    def launch(paths: Paths, ports: Ports, workdir: Path) -> Launch:
        argv = [str(paths.main_bin / "mlkube"), "serve"]
        if entry_script:
            argv += ["--entry-script", str(paths.seed_score_py),
                     "--model-dir", str(paths.model_root)]
        else:
            # The Azure ML layout (the MLflow model in its "model" subfolder), as deployed.
            argv += ["--model-dir", str(paths.model_root)]
        argv += ["--host", "127.0.0.1", "--port", str(ports.http), "--workers", "1"]
        if batching:
            argv += ["--batch", "--max-batch-size", str(BATCH_MAX_SIZE),
                     "--max-batch-wait-ms", str(MLKUBE_BATCH_WAIT_MS)]
        return Launch(argv=argv, env=_env(paths.main_bin), cwd=workdir)

    return launch


def _in_venv(venv: str, script: str, *args: str, root_first: bool = False,
             **env: str) -> Callable[[Paths, Ports, Path], Launch]:
    """A peer whose service code is one of bench/serve_*.py, run by its venv's Python;
    ``args`` may name ``{model}``, ``{port}`` and ``{spare0}``, ``{spare1}``."""
    def launch(paths: Paths, ports: Ports, workdir: Path) -> Launch:
        bin_dir = paths.venvs / venv / "bin"
        values = {"model": str(paths.model_dir), "port": str(ports.http),
                  **{f"spare{i}": str(p) for i, p in enumerate(ports.spare)}}
        extra = {k: v.format(workdir=workdir) for k, v in env.items()}
        return Launch(argv=[str(bin_dir / "python"), str(BENCH / script),
                            *(a.format(**values) for a in args)],
                      env=_env(bin_dir, **extra), cwd=workdir, root_first=root_first)

    return launch


def _mlkube_endpoint(*, max_concurrent: int | None,
                     batch: bool = False) -> Callable[[Paths, Ports, Path], Launch]:
    def launch(paths: Paths, ports: Ports, workdir: Path) -> Launch:
        # A fresh workspace each time: the endpoint is created as a user would, from nothing.
        shutil.rmtree(workdir / "workspace", ignore_errors=True)
        ready = workdir / "ready.json"
        ready.unlink(missing_ok=True)
        argv = [str(paths.main_bin / "python"), str(BENCH / "endpoint_peer.py"),
                str(paths.model_root), str(workdir), str(ready)]
        if max_concurrent is not None:
            argv.append(str(max_concurrent))
            if batch:
                argv.append("batch")
        return Launch(argv=argv, env=_env(paths.main_bin), cwd=workdir, ready_file=ready,
                      root_first=True)

    return launch


PEERS: list[Peer] = [
    Peer("azmlinfsrv", "azureml-inference-server-http 1.5.1 (seed score.py)", AZUREML_DATA,
         "/score", "azmlinfsrv", _azmlinfsrv,
         notes=["gunicorn + Flask, 1 worker; binds 0.0.0.0 (not configurable), "
                "traffic sent to 127.0.0.1 only"]),
    Peer("mlflow", "mlflow models serve 3.17.2", MLFLOW_SPLIT, "/invocations", "mlflow",
         _mlflow_serve),
    Peer("mlserver", "MLServer 1.7.1 + mlserver-mlflow", V2_COLUMNS, "/v2/models/iris/infer",
         "mlserver", _mlserver(batching=False), notes=["parallel_workers 0, batching off"]),
    Peer("mlserver-batch", "MLServer 1.7.1 + mlserver-mlflow, adaptive batching", V2_COLUMNS,
         "/v2/models/iris/infer", "mlserver", _mlserver(batching=True),
         notes=[f"max_batch_size {BATCH_MAX_SIZE}, max_batch_time {BATCH_MAX_TIME_S} s"]),
    Peer("mlkube-entry", "mlkube entry-script (seed score.py)", AZUREML_DATA, "/score", None,
         _mlkube(entry_script=True, batching=False)),
    Peer("mlkube-nocode", "mlkube no-code", AZUREML_DATA, "/score", None,
         _mlkube(entry_script=False, batching=False), noop_path="/"),
    Peer("mlkube-nocode-batch", "mlkube no-code, adaptive batching", AZUREML_DATA, "/score",
         None, _mlkube(entry_script=False, batching=True),
         notes=[f"--max-batch-size {BATCH_MAX_SIZE} --max-batch-wait-ms {MLKUBE_BATCH_WAIT_MS}"]),
    # Issue 14, item 1: every serving peer a user would pick instead.
    Peer("bentoml", "BentoML 1.4.40 (bentoml.mlflow model in a service)", AZUREML_DATA,
         "/score", "bentoml", _in_venv("bentoml", "serve_bentoml.py", "{model}", "{port}",
                                       BENTOML_HOME="{workdir}/bentoml-home",
                                       BENTOML_DO_NOT_TRACK="True"),
         notes=["`@bentoml.service(workers=1)`, pyfunc from `bentoml.mlflow.load_model` on "
                "a DataFrame; the model imported into a store under the server's work "
                "folder at start"]),
    Peer("litserve-pyfunc", "LitServe 0.2.19, MLflow pyfunc", AZUREML_DATA, "/predict",
         "litserve", _in_venv("litserve", "serve_litserve.py", "pyfunc", "{model}", "{port}"),
         notes=["1 API server, 1 inference worker (`workers_per_device=1`), no batching"]),
    Peer("litserve-booster", "LitServe 0.2.19, LightGBM booster directly", AZUREML_DATA,
         "/predict", "litserve",
         _in_venv("litserve", "serve_litserve.py", "booster", "{model}", "{port}"),
         notes=["`booster.predict` on a numpy array (no MLflow layer); 1 API server, "
                "1 inference worker"]),
    Peer("ray-serve", "Ray Serve 2.60.0, one replica (MLflow pyfunc)", AZUREML_DATA, "/score",
         "ray", _in_venv("ray", "serve_ray.py", "{model}", "{port}", root_first=True),
         notes=["`ray.init(num_cpus=1)`, 100 MiB object store, no dashboard; all of Ray's "
                "processes count in its CPU and memory"]),
    Peer("pytriton", "PyTriton 0.7.0 (Triton's C++ front end, Python callable on the booster)",
         V2_TENSOR, "/v2/models/iris/infer", "pytriton",
         _in_venv("pytriton", "serve_pytriton.py", "{model}", "{port}", "{spare0}",
                  "{spare1}", str(PYTRITON_MAX_BATCH_ROWS)),
         notes=["Triton's dynamic batcher on (no queue delay), `max_batch_size` "
                f"{PYTRITON_MAX_BATCH_ROWS:,} rows; `@batch` callable on `booster.predict`"]),
    Peer("mlkube-endpoint", "mlkube endpoint with key auth (client → gateway → no-code), defaults",
         AZUREML_DATA, "/score", None, _mlkube_endpoint(max_concurrent=None),
         notes=["a local endpoint created with `MLClient` as users do, default deployment "
                "settings (`max_concurrent_requests_per_instance` 8 when unset), one instance, "
                "`Authorization: Bearer <key>` on every request; gateway, supervisor and "
                "instance all on the server core"]),
    Peer("mlkube-endpoint-tuned",
         "mlkube endpoint with key auth, 16 requests in flight, micro-batching",
         AZUREML_DATA, "/score", None, _mlkube_endpoint(max_concurrent=16, batch=True),
         notes=["the same with `max_concurrent_requests_per_instance` 16 and the server's "
                "micro-batching on (`MLKUBE_BATCHING=1` in `environment_variables`)"]),
    Peer("mlkube-endpoint-one",
         "mlkube endpoint with key auth, 1 request in flight (Azure's default)",
         AZUREML_DATA, "/score", None, _mlkube_endpoint(max_concurrent=1),
         notes=["the same with `max_concurrent_requests_per_instance` 1, as a deployment "
                "ported from Azure ML that sets it explicitly"]),
]

NOOP_SUFFIX = "-noop"
