"""The process that runs one command job to its end: ``python -m mlkube.operations.job_runner
<job folder>``.

Started detached by ``JobOperations.create_or_update`` (its own session, so the job lives
on when the CLI exits). It prepares the inputs (downloads URLs and registered models),
materialises the job's environment, runs the command in the code snapshot with MLflow
pointed at the job's run, appends everything the command prints to the job's log, and
records the end: status, exit code, and for a failure the last lines of the log. On
SIGTERM (``mlkube job cancel``) it stops the command's whole process group and records
Canceled. On an attached Kubernetes compute the command runs as a Kubernetes Job instead
(``kubernetes_jobs``), followed the same way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from mlkube.entities.job import JobStatus, command_variables, render_command
from mlkube.errors import MlkubeError
from mlkube.operations.compute_slots import compute_slot
from mlkube.operations.job_inputs import fetch_inputs
from mlkube.operations.jobs import (
    LOG_ARTIFACT,
    LOG_FILE,
    MLFLOW_STATUS,
    TAG_ERROR,
    TAG_EXIT_CODE,
    TAG_PID,
    TAG_STATUS,
)
from mlkube.workspace.location import WorkspaceLocation
from mlkube.workspace.workspace import Workspace

TAIL_LINES = 20
_TAIL_CHARS = 3500


def tail(text: str, *, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text`` (at most a tag's worth of characters)."""
    kept = "\n".join(text.rstrip().splitlines()[-lines:])
    return kept[-_TAIL_CHARS:]


def child_environment(base: Mapping[str, str], *, python: str, tracking_uri: str,
                      experiment_id: str, experiment_name: str, run_id: str,
                      job_variables: Mapping[str, str], inputs: Mapping[str, str],
                      outputs: Mapping[str, str]) -> dict[str, str]:
    """The command's environment: the job's variables, ``python`` first on PATH, MLflow
    pointed at the job's run, and Azure ML's input/output variables."""
    env = {k: v for k, v in base.items() if not k.startswith("MLKUBE_")}
    env.update({str(k): str(v) for k, v in job_variables.items()})
    bin_dir = str(Path(python).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", os.defpath)
    env.update(command_variables(
        tracking_uri=tracking_uri, experiment_id=experiment_id,
        experiment_name=experiment_name, run_id=run_id, inputs=inputs, outputs=outputs))
    return env


class _Canceled(Exception):
    """SIGTERM arrived before the command started."""


class JobRunner:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        settings = json.loads((folder / "runner.json").read_text())
        self.run_id: str = settings["run_id"]
        self.experiment_id: str = settings["experiment_id"]
        self.experiment_name: str = settings["experiment_name"]
        self.workspace = Workspace(WorkspaceLocation(
            root=Path(settings["root"]), tracking_uri=settings["tracking_uri"],
            artifact_location=settings["artifact_location"], embedded=settings["embedded"]))
        self.log_path = folder / LOG_FILE
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.child: subprocess.Popen[bytes] | None = None
        self.canceled = False
        #: Set while a Kubernetes job is followed: SIGTERM then only flags the cancel.
        self.watching = False

    # --- recording -----------------------------------------------------------------------

    def say(self, log: IO[bytes], message: str) -> None:
        log.write(f"[mlkube] {message}\n".encode())
        log.flush()

    def record(self, status: str, *, exit_code: int | None = None,
               error: str | None = None) -> None:
        tags = {TAG_STATUS: status}
        if exit_code is not None:
            tags[TAG_EXIT_CODE] = str(exit_code)
        if error:
            tags[TAG_ERROR] = error
        runs = self.workspace.runs
        runs.set_tags(self.run_id, tags)
        terminal = status in JobStatus.TERMINAL
        runs.set_status(self.run_id, MLFLOW_STATUS[status], terminal=terminal)

    def on_sigterm(self, _signum: int, _frame: Any) -> None:
        self.canceled = True
        if self.child is None and not self.watching:
            # Still preparing (downloads, environment, image): stop that right here.
            raise _Canceled()
        if self.child is not None and self.child.poll() is None:
            try:
                os.killpg(self.child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    # --- preparing -----------------------------------------------------------------------

    def prepare_inputs(self, spec: dict[str, Any], log: IO[bytes]) -> dict[str, str]:
        return fetch_inputs(spec.get("inputs", {}), folder=self.folder,
                            workspace=self.workspace,
                            say=lambda message: self.say(log, message)).values

    def python_for(self, environment: Any, log: IO[bytes]) -> str:
        if environment is None:
            return sys.executable
        try:
            from mlkube.entities.environment import Environment
            from mlkube.operations.environments import EnvironmentOperations
        except ImportError:
            self.say(log, "environments are not available in this mlkube; running the job "
                     f"with {sys.executable}")
            return sys.executable
        operations = EnvironmentOperations(self.workspace)
        target = environment if isinstance(environment, str) else Environment.from_dict(
            environment, source="the job's environment")
        self.say(log, "preparing the environment")
        python = operations.materialize(target, progress=lambda m: self.say(log, m))
        return str(python)

    # --- running -------------------------------------------------------------------------

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_sigterm)
        runs = self.workspace.runs
        runs.set_tags(self.run_id, {TAG_PID: str(os.getpid())})
        spec = json.loads(runs.get(self.run_id).tags.get("mlkube.job.spec", "{}"))
        with open(self.log_path, "ab") as log:
            try:
                return self._run(spec, log)
            except _Canceled:
                self.say(log, "canceled before the command started")
                self.record(JobStatus.CANCELED)
                return 1
            except MlkubeError as error:
                self.say(log, f"error: {error}")
                self.record(JobStatus.FAILED, error=str(error))
                return 1
            except Exception as error:  # recorded, never lost
                self.say(log, f"error: {type(error).__name__}: {error}")
                self.record(JobStatus.FAILED, error=f"{type(error).__name__}: {error}")
                return 1

    def _run(self, spec: dict[str, Any], log: IO[bytes]) -> int:
        compute = spec.get("compute") or "local"
        if compute == "local":
            return self._run_command(spec, log)
        from mlkube.entities.compute import KubernetesCompute
        from mlkube.operations.computes import ComputeOperations

        found = ComputeOperations(self.workspace).get(compute)
        if isinstance(found, KubernetesCompute):
            from mlkube.operations.kubernetes_jobs import KubernetesJobRun

            return KubernetesJobRun(self, found).run(spec, log)
        max_instances = self.compute_capacity(compute)
        with compute_slot(self.workspace.root / "locks", compute, max_instances,
                          on_wait=lambda: self.say(
                              log, f"waiting for compute {compute}: its max_instances "
                              f"({max_instances}) jobs are running")) as slot:
            self.say(log, f"running on compute {compute} (instance {slot + 1} of "
                     f"{max_instances}, on this machine)")
            return self._run_command(spec, log)

    def compute_capacity(self, compute: str) -> int:
        """How many jobs ``compute`` runs at once (its max_instances, read when the job
        starts, so a changed AmlCompute applies to the jobs queued on it)."""
        from mlkube.entities.compute import AmlCompute
        from mlkube.operations.computes import ComputeOperations

        found = ComputeOperations(self.workspace).get(compute)
        return found.max_instances if isinstance(found, AmlCompute) else 1

    def _run_command(self, spec: dict[str, Any], log: IO[bytes]) -> int:
        inputs = self.prepare_inputs(spec, log)
        outputs = {}
        for key in spec.get("outputs", {}):
            out_dir = self.folder / "outputs" / key
            out_dir.mkdir(parents=True, exist_ok=True)
            outputs[key] = str(out_dir)
        command = render_command(spec["command"], inputs=inputs, outputs=outputs,
                                 known_inputs=spec.get("inputs", {}))
        python = self.python_for(spec.get("environment"), log)
        if self.canceled or (self.folder / "cancel-requested").exists():
            self.record(JobStatus.CANCELED)
            return 1
        env = child_environment(
            os.environ, python=python, tracking_uri=self.workspace.tracking_uri,
            experiment_id=self.experiment_id, experiment_name=self.experiment_name,
            run_id=self.run_id, job_variables=spec.get("environment_variables", {}),
            inputs=inputs, outputs=outputs)
        self.say(log, f"running: {command}")
        self.record(JobStatus.RUNNING)
        started = time.monotonic()
        self.child = subprocess.Popen(
            ["/bin/bash", "-c", command], cwd=self.folder / "code", env=env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        exit_code = self.child.wait()
        self.say(log, f"command ended with exit code {exit_code} after "
                 f"{time.monotonic() - started:.1f}s")
        log.flush()
        self.keep_outputs(outputs, log)
        if self.canceled:
            self.record(JobStatus.CANCELED, exit_code=exit_code)
        elif exit_code == 0:
            self.record(JobStatus.COMPLETED, exit_code=0)
        else:
            text = self.log_path.read_text(errors="replace")
            command_lines = [ln for ln in text.splitlines() if not ln.startswith("[mlkube]")]
            self.record(JobStatus.FAILED, exit_code=exit_code,
                        error=tail("\n".join(command_lines)))
        return exit_code

    def keep_outputs(self, outputs: Mapping[str, str], log: IO[bytes]) -> None:
        """Named outputs, Azure's ./outputs folder and the log become run artifacts."""
        runs = self.workspace.runs
        try:
            for key, path in outputs.items():
                if any(Path(path).iterdir()):
                    runs.log_artifacts(self.run_id, Path(path), artifact_path=key)
            conventional = self.folder / "code" / "outputs"
            if conventional.is_dir() and any(conventional.iterdir()):
                runs.log_artifacts(self.run_id, conventional, artifact_path="outputs")
            runs.log_artifacts(self.run_id, self.log_path, artifact_path=LOG_ARTIFACT)
        except Exception as error:  # the job's result matters more
            self.say(log, f"warning: could not keep the outputs as artifacts: {error}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mlkube.operations.job_runner <job folder>", file=sys.stderr)
        return 2
    return JobRunner(Path(args[0])).run()


if __name__ == "__main__":
    sys.exit(main())
