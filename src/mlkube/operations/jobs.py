"""``MLClient.jobs``: submit command jobs, follow them, cancel them.

A job is an MLflow run. Submitting checks everything that can be checked before anything
runs (``${{inputs.x}}`` references, local input paths, the code folder), snapshots the code
into the job's folder in the workspace, creates the run (status Queued) and starts a
detached runner process (``mlkube.operations.job_runner``), so the job outlives the CLI
that started it. The runner passes ``MLFLOW_TRACKING_URI`` / ``MLFLOW_EXPERIMENT_ID`` /
``MLFLOW_RUN_ID`` to the command, so ``mlflow.autolog()`` records into the job's run.
The job's status, exit code and failure cause are run tags any client can read.

Its length is Azure's JobOperations surface (create, get, list, stream, cancel,
download) over MLflow runs; the detached runner itself is ``job_runner.py``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlkube.entities.base import is_uri
from mlkube.entities.environment import Environment
from mlkube.entities.input import PATH_TYPES, Input
from mlkube.entities.job import Command, JobStatus
from mlkube.errors import (
    ConflictError,
    JobFailedError,
    MlkubeError,
    RequiredLocalArtifactsNotFoundError,
    ResourceNotFoundError,
    ValidationError,
)
from mlkube.operations.poller import LROPoller
from mlkube.pids import process_alive

if TYPE_CHECKING:
    from mlkube.workspace.runs import RunRecord
    from mlkube.workspace.workspace import Workspace

DEFAULT_EXPERIMENT = "Default"
SPEC_FILE = "job.json"
LOG_FILE = Path("user_logs") / "std_log.txt"
LOG_ARTIFACT = "user_logs"

TAG_KIND = "mlkube.kind"
TAG_NAME = "mlkube.job.name"
TAG_STATUS = "mlkube.job.status"
TAG_DISPLAY = "mlkube.job.display_name"
TAG_SPEC = "mlkube.job.spec"
TAG_HOST = "mlkube.job.host"
TAG_PID = "mlkube.job.pid"
TAG_FOLDER = "mlkube.job.folder"
TAG_EXIT_CODE = "mlkube.job.exit_code"
TAG_ERROR = "mlkube.job.error"

# MLflow's run statuses for each job status.
MLFLOW_STATUS = {
    JobStatus.QUEUED: "SCHEDULED",
    JobStatus.STARTING: "SCHEDULED",
    JobStatus.RUNNING: "RUNNING",
    JobStatus.COMPLETED: "FINISHED",
    JobStatus.FAILED: "FAILED",
    JobStatus.CANCELED: "KILLED",
}
_FROM_MLFLOW = {v: k for k, v in MLFLOW_STATUS.items() if k != JobStatus.STARTING}
_SNAPSHOT_IGNORE = shutil.ignore_patterns(".git", "__pycache__", ".mlkube", ".venv", "mlruns",
                                          ".pytest_cache", "*.pyc")
_ADJECTIVES = ("amber", "brave", "calm", "eager", "gentle", "happy", "jolly", "keen",
               "lively", "mellow", "nimble", "quiet", "sharp", "sunny", "witty", "zesty")
_NOUNS = ("apple", "brook", "cloud", "dune", "fern", "grape", "heron", "island", "lemon",
          "maple", "otter", "pear", "river", "stone", "tulip", "willow")


def generate_job_name() -> str:
    """An Azure-ML-like job name: ``<adjective>_<noun>_<8 hex>``."""
    return (f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_NOUNS)}_"
            f"{secrets.token_hex(4)}")


def find_job_run(workspace: Workspace, name: str) -> RunRecord:
    """The run of job ``name``; ``ResourceNotFoundError`` naming it if there is none."""
    from mlkube.workspace.runs import quote

    found = workspace.runs.search(
        f"tags.`{TAG_KIND}` = 'job' AND tags.`{TAG_NAME}` = {quote(name)}")
    if not found:
        raise ResourceNotFoundError(
            f"No job named {name!r} in the workspace.",
            hint="List the jobs with `mlkube job list`.",
        )
    return found[0]


def job_from_run(run: RunRecord) -> Command:
    """The Command entity of a job's run, with its current status."""
    spec = json.loads(run.tags.get(TAG_SPEC, "{}"))
    spec.pop("status", None)
    status = run.tags.get(TAG_STATUS) or _FROM_MLFLOW.get(run.status, JobStatus.RUNNING)
    exit_code = run.tags.get(TAG_EXIT_CODE)
    job = Command.model_validate({
        **spec,
        "name": run.tags.get(TAG_NAME),
        "display_name": spec.get("display_name") or run.tags.get(TAG_DISPLAY),
        "status": status,
        "exit_code": int(exit_code) if exit_code not in (None, "") else None,
        "error": run.tags.get(TAG_ERROR) or None,
        "run_id": run.run_id,
        "experiment_id": run.experiment_id,
        "creation_context": {
            "created_at": run.start_time.isoformat() if run.start_time else "",
            "ended_at": run.end_time.isoformat() if run.end_time else "",
        },
    })
    return job


def _write_to_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


class JobOperations:
    """Azure ML's ``ml_client.jobs``."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    # --- submitting ----------------------------------------------------------------------

    def create_or_update(self, job: Command, *, experiment_name: str | None = None,
                         description: str | None = None) -> Command:
        """Submit ``job``; returns once it is Queued, while it runs in the background."""
        job = job.model_copy(deep=True)
        if experiment_name:
            job.experiment_name = experiment_name
        if description:
            job.description = description
        if job.type != "command":
            raise ValidationError(f"Job type {job.type!r} is not supported.",
                                  hint="mlkube runs command jobs (type: command).")
        job.compute = self._checked_compute(job)
        # Everything that can fail before the job runs fails here, with its cause named.
        job.check_references()
        inputs = self._checked_inputs(job)
        code = self._checked_code(job)
        environment = self._environment_spec(job.environment)

        name = job.name or generate_job_name()
        from mlkube.workspace.records import check_name

        check_name("job", name)
        folder = self._workspace.jobs_folder / name
        spec = job.to_dict()
        spec.update({"name": name, "inputs": inputs, "code": str(code) if code else None,
                     "environment": environment})
        spec = {k: v for k, v in spec.items()
                if k not in ("status", "exit_code", "error", "run_id", "experiment_id",
                             "creation_context")}
        experiment = job.experiment_name or DEFAULT_EXPERIMENT
        runs = self._workspace.runs
        experiment_id = runs.experiment_id(experiment)

        with self._workspace.lock(f"jobs/{name}"):
            from mlkube.workspace.runs import quote

            if runs.search(f"tags.`{TAG_KIND}` = 'job' AND tags.`{TAG_NAME}` = {quote(name)}"):
                raise ConflictError(
                    f"A job named {name!r} already exists.",
                    hint="Omit the name to get a generated one, or choose another name.",
                )
            if folder.exists():
                shutil.rmtree(folder)  # left over from a submission that failed midway
            self._snapshot(code, folder / "code")
            spec_text = json.dumps(spec, sort_keys=True)
            if len(spec_text) > 7500:
                raise ValidationError(
                    f"Job {name!r}'s spec is {len(spec_text)} characters; the workspace keeps "
                    "at most 7500.",
                    hint="Register a long inline environment first and refer to it by name.",
                )
            run = runs.create(experiment_id=experiment_id, run_name=name, tags={
                TAG_KIND: "job",
                TAG_NAME: name,
                TAG_STATUS: JobStatus.QUEUED,
                TAG_DISPLAY: job.display_name or name,
                TAG_SPEC: spec_text,
                TAG_HOST: socket.gethostname(),
                TAG_FOLDER: str(folder),
                "mlflow.source.type": "JOB",
                "mlflow.source.name": job.command[:500],
                **({"mlflow.note.content": job.description} if job.description else {}),
                **{k: str(v) for k, v in job.tags.items()},
            })
            runs.set_status(run.run_id, "SCHEDULED", terminal=False)
        self._start_runner(folder, run_id=run.run_id, experiment_id=experiment_id,
                           experiment_name=experiment)
        return job_from_run(runs.get(run.run_id))

    def _checked_compute(self, job: Command) -> str:
        """The compute's name if command jobs can run on it: ``local``, an AmlCompute, or
        an attached Kubernetes cluster (as Kubernetes Jobs) the job and workspace suit."""
        name = (job.compute or "local").removeprefix("azureml:")
        if name == "local":
            return name
        from mlkube.entities.compute import AmlCompute, KubernetesCompute
        from mlkube.operations.computes import ComputeOperations

        found = ComputeOperations(self._workspace).get(name)  # names the fix if missing
        if isinstance(found, AmlCompute):
            return name
        if isinstance(found, KubernetesCompute):
            from mlkube.operations.kubernetes_jobs import check_kubernetes_job

            check_kubernetes_job(job, found, self._workspace.location)
            return name
        raise ValidationError(
            f"Compute {name!r} is a {found.type} compute, which runs endpoints, not jobs.",
            hint="Run the job on compute local, on an AmlCompute or on an attached "
                 "Kubernetes compute.")

    def _checked_inputs(self, job: Command) -> dict[str, Any]:
        """Inputs as stored: paths made absolute and checked to exist, literals as given."""
        checked: dict[str, Any] = {}
        for key, value in job.inputs.items():
            if not isinstance(value, Input):
                checked[key] = value
                continue
            data = value.to_dict()
            if value.type in PATH_TYPES and value.path:
                data["path"] = self._checked_input_path(key, value)
            elif value.type in PATH_TYPES and not value.optional:
                raise ValidationError(
                    f"Input {key!r} ({value.type}) has no path.",
                    hint=f"Give inputs.{key}.path, or mark the input optional: true.",
                )
            checked[key] = data
        return checked

    def _checked_input_path(self, key: str, value: Input) -> str:
        path = str(value.path)
        if path.startswith(("http://", "https://")):
            return path
        if path.startswith(("azureml:", "models:/")):
            if value.type not in ("mlflow_model", "custom_model"):
                raise ValidationError(
                    f"Input {key!r} refers to the registered model {path!r} but has type "
                    f"{value.type}.",
                    hint="Give it type mlflow_model or custom_model.",
                )
            return path
        if is_uri(path) and not path.startswith("file://"):
            raise ValidationError(
                f"Input {key!r} has the path {path!r}, which a local job cannot read.",
                hint="Use a local path, an http(s) URL or a registered model "
                "(azureml:<name>:<version>).",
            )
        local = Path(os.path.expanduser(path.removeprefix("file://"))).resolve()
        if not local.exists():
            raise RequiredLocalArtifactsNotFoundError(
                f"Input {key!r}: the path {local} does not exist.",
                hint=f"Fix inputs.{key}.path (relative paths are relative to the job YAML or "
                "the current folder).",
            )
        if value.type == "uri_file" and not local.is_file():
            raise ValidationError(f"Input {key!r} is a uri_file but {local} is a folder.",
                                  hint="Use type uri_folder, or point the path at a file.")
        if value.type == "uri_folder" and not local.is_dir():
            raise ValidationError(f"Input {key!r} is a uri_folder but {local} is a file.",
                                  hint="Use type uri_file, or point the path at a folder.")
        return str(local)

    def _checked_code(self, job: Command) -> Path | None:
        if not job.code:
            return None
        code = Path(os.path.expanduser(job.code)).resolve()
        if not code.is_dir():
            raise RequiredLocalArtifactsNotFoundError(
                f"The job's code folder {code} does not exist." if not code.exists()
                else f"The job's code {code} is a file, not a folder.",
                hint="Set code to the folder that holds the script the command runs.",
            )
        return code

    def _environment_spec(self, environment: str | Environment | None) -> Any:
        """What the runner materialises: None (mlkube's own Python), a registered reference,
        or an inline spec with its files read in (so the job does not depend on them)."""
        from mlkube.operations.environments import EnvironmentOperations, stored_spec

        if environment is None:
            return None
        if isinstance(environment, str):
            # A missing registered or unknown curated environment fails the submission.
            EnvironmentOperations(self._workspace).find(environment)
            return environment
        return stored_spec(environment)

    @staticmethod
    def _snapshot(code: Path | None, dest: Path) -> None:
        # A copy, so editing the code while the job runs (or later) changes nothing.
        if code is None:
            dest.mkdir(parents=True)
        else:
            shutil.copytree(code, dest, ignore=_SNAPSHOT_IGNORE, symlinks=True)

    def _start_runner(self, folder: Path, *, run_id: str, experiment_id: str,
                      experiment_name: str) -> None:
        from mlkube.atomic_files import write_json_atomic

        location = self._workspace.location
        # The tracking URI may hold a database password: the file is the owner's only.
        write_json_atomic(folder / "runner.json", {
            "run_id": run_id,
            "experiment_id": experiment_id,
            "experiment_name": experiment_name,
            "root": str(location.root),
            "tracking_uri": location.tracking_uri,
            "artifact_location": location.artifact_location,
            "embedded": location.embedded,
        }, mode=0o600)
        (folder / LOG_FILE).parent.mkdir(parents=True, exist_ok=True)
        with open(folder / "runner.log", "ab") as runner_log:
            # A new session: the job survives the CLI exiting and the CLI's Ctrl-C.
            subprocess.Popen(
                [sys.executable, "-m", "mlkube.operations.job_runner", str(folder)],
                cwd=folder, stdin=subprocess.DEVNULL, stdout=runner_log,
                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            )

    # --- reading -------------------------------------------------------------------------

    def get(self, name: str) -> Command:
        """The job and its current status."""
        run = find_job_run(self._workspace, name)
        run = self._reap_if_orphaned(run)
        return job_from_run(run)

    def list(self, *, experiment_name: str | None = None) -> list[Command]:
        """Every job (newest first), optionally of one experiment."""
        experiment_ids = None
        if experiment_name:
            experiment_ids = [self._workspace.runs.experiment_id(experiment_name)]
        runs = self._workspace.runs.search(f"tags.`{TAG_KIND}` = 'job'",
                                           experiment_ids=experiment_ids,
                                           order_by=["attributes.start_time DESC"])
        return [job_from_run(self._reap_if_orphaned(run)) for run in runs]

    def _reap_if_orphaned(self, run: RunRecord) -> RunRecord:
        """A job whose runner died on this machine without recording an end is Failed."""
        status = run.tags.get(TAG_STATUS)
        if status in JobStatus.TERMINAL or run.tags.get(TAG_HOST) != socket.gethostname():
            return run
        pid = run.tags.get(TAG_PID)
        if not pid or process_alive(int(pid)):
            return run
        # Give a runner that is just finishing the chance to record its own end.
        time.sleep(0.5)
        run = self._workspace.runs.get(run.run_id)
        if run.tags.get(TAG_STATUS) in JobStatus.TERMINAL:
            return run
        self._finish(run.run_id, JobStatus.FAILED,
                     error="The job's runner process ended without recording a result "
                     "(killed, or the machine restarted).")
        try:
            # Nothing may go on running under a job recorded as failed.
            self._stop_kubernetes_job(run)
        except MlkubeError:
            pass  # the cluster is out of reach: the Job's TTL removes it in the end
        return self._workspace.runs.get(run.run_id)

    def _finish(self, run_id: str, status: str, *, error: str | None = None) -> None:
        tags = {TAG_STATUS: status}
        if error:
            tags[TAG_ERROR] = error
        self._workspace.runs.set_tags(run_id, tags)
        self._workspace.runs.set_status(run_id, MLFLOW_STATUS[status], terminal=True)

    def log_path(self, name: str) -> Path:
        """The job's live log file on this machine."""
        run = find_job_run(self._workspace, name)
        return Path(run.tags.get(TAG_FOLDER, self._workspace.jobs_folder / name)) / LOG_FILE

    def stream(self, name: str, *, write: Callable[[str], None] | None = None,
               poll_interval: float = 0.25, timeout: float | None = None) -> Command:
        """Print the job's log until it ends (or ``timeout`` seconds pass: the job goes on).
        A Failed job raises ``JobFailedError`` with its exit code and the last lines of
        its log."""
        emit = write or _write_to_stdout
        run = find_job_run(self._workspace, name)
        log = Path(run.tags.get(TAG_FOLDER, self._workspace.jobs_folder / name)) / LOG_FILE
        position = 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            # One primary-key read per poll: cheap enough to poll four times a second.
            run = self._reap_if_orphaned(self._workspace.runs.get(run.run_id))
            status = run.tags.get(TAG_STATUS)
            position = self._emit_new(log, position, emit)
            if status in JobStatus.TERMINAL:
                position = self._emit_new(log, position, emit)
                job = job_from_run(run)
                break
            if deadline is not None and time.monotonic() > deadline:
                raise MlkubeError(
                    f"Job {name} is still {status} after {timeout:.0f}s of streaming.",
                    hint=f"It goes on in the background; follow it with `mlkube job stream "
                    f"--name {name}` or stop it with `mlkube job cancel --name {name}`.",
                )
            time.sleep(poll_interval)
        if position == 0 and not log.exists():
            # Ran on another machine: its log is an artifact of the run.
            position = self._emit_artifact_log(job, emit)
        emit(f"\nJob {name} ended: {job.status}"
             + (f" (exit code {job.exit_code})" if job.exit_code is not None else "") + "\n")
        if job.status == JobStatus.FAILED:
            if job.exit_code is None:
                # It never ran to an exit (a pod that cannot start, a runner error).
                detail = f": {job.error}" if job.error else "."
            else:
                detail = f" with exit code {job.exit_code}" + (
                    f". Last lines of its log:\n{job.error}" if job.error else ".")
            raise JobFailedError(
                f"Job {name} failed{detail}",
                hint=f"Fix the cause shown in the log; the full log is {log}.",
            )
        return job

    @staticmethod
    def _emit_new(log: Path, position: int, emit: Callable[[str], None]) -> int:
        if not log.exists():
            return position
        with open(log, "rb") as handle:
            handle.seek(position)
            chunk = handle.read()
        if chunk:
            emit(chunk.decode("utf-8", errors="replace"))
        return position + len(chunk)

    def _emit_artifact_log(self, job: Command, emit: Callable[[str], None]) -> int:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = self._workspace.runs.download(str(job.run_id), str(LOG_FILE), Path(tmp))
            except Exception:  # no log is not an error of the job
                return 0
            text = path.read_text(errors="replace")
        emit(text)
        return len(text)

    # --- canceling -----------------------------------------------------------------------

    def cancel(self, name: str, *, timeout: float = 30.0) -> Command:
        """Stop the job; it ends Canceled. A job that already ended is left as it is."""
        run = find_job_run(self._workspace, name)
        if run.tags.get(TAG_STATUS) in JobStatus.TERMINAL:
            return job_from_run(run)
        pid = run.tags.get(TAG_PID)
        local = run.tags.get(TAG_HOST) == socket.gethostname()
        if local and pid and process_alive(int(pid)):
            # The runner stops the command's whole process group and records Canceled.
            os.kill(int(pid), signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                run = self._workspace.runs.get(run.run_id)
                if run.tags.get(TAG_STATUS) in JobStatus.TERMINAL:
                    return job_from_run(run)
                time.sleep(0.1)
            if process_alive(int(pid)):
                os.kill(int(pid), signal.SIGKILL)
        elif local and not pid:
            # Queued: the runner has not started the command yet; it checks for this flag.
            (Path(run.tags.get(TAG_FOLDER, "")) / "cancel-requested").touch()
        self._stop_kubernetes_job(run)
        self._finish(run.run_id, JobStatus.CANCELED)
        return job_from_run(self._workspace.runs.get(run.run_id))

    def _stop_kubernetes_job(self, run: RunRecord) -> None:
        """Delete the Kubernetes Job of a job on a Kubernetes compute whose runner could
        not do it (it runs on another machine, or died)."""
        spec = json.loads(run.tags.get(TAG_SPEC, "{}"))
        compute = spec.get("compute") or "local"
        if compute == "local":
            return
        from mlkube.entities.compute import KubernetesCompute
        from mlkube.operations.computes import ComputeOperations

        try:
            found = ComputeOperations(self._workspace).get(compute)
        except ResourceNotFoundError:
            return
        if isinstance(found, KubernetesCompute):
            from mlkube.operations.kubernetes_jobs import delete_kubernetes_job

            delete_kubernetes_job(found, str(run.tags.get(TAG_NAME)))

    def begin_cancel(self, name: str) -> LROPoller[Command]:
        """Azure ML's spelling: ``ml_client.jobs.begin_cancel(name).result()``."""
        return LROPoller(lambda _report: self.cancel(name), progress=None,
                         description=f"cancel of job {name}")

    def output_uri(self, name: str, output: str = "model") -> str:
        """Where a job's output is (``jobs:/<job>/outputs/artifacts/paths/<output>``)."""
        run = find_job_run(self._workspace, name)
        return self._workspace.runs.output_uri(run.run_id, output)[0]
