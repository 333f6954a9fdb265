"""Command jobs on an attached Kubernetes compute: checked at submission, then run by the
job's runner (``job_runner``) as a Kubernetes Job.

The runner does for a Kubernetes job what it does for a local one, with the cluster in
place of a subprocess: inputs are fetched on this machine (``job_inputs``) and copied
into the job's image with its code; the image is built from the job's environment and
pushed to the compute's registry (``targets.kubernetes.job_target``); the Job is applied
with MLflow pointed at the job's run; the pod's log is appended to the job's log as it
grows (so ``jobs.stream`` shows it live), and the Job's and pod's states are recorded as
the job's status, a failure with its cause and fix. SIGTERM (``jobs.cancel``) deletes the
Job and records Canceled.

The pod records metrics, parameters, models and outputs into the workspace itself, over
MLflow's tracking API: a Kubernetes job needs a workspace on an MLflow tracking server
(``http(s)://``) that the cluster's pods reach, with artifacts served by it or in shared
storage. An embedded workspace (SQLite in a folder on this machine) is refused at
submission with that fix.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mlkube.entities.compute import KubernetesCompute
from mlkube.entities.container_layout import job_input_path
from mlkube.entities.job import Command, JobStatus, command_variables, render_command
from mlkube.errors import ValidationError
from mlkube.targets.kubernetes.images import check_registry
from mlkube.targets.kubernetes.job_manifests import job_output_path, render_job_manifests
from mlkube.targets.kubernetes.job_status import JobVerdict
from mlkube.targets.kubernetes.names import job_object_name
from mlkube.targets.kubernetes.sizing import job_pod_resources
from mlkube.workspace.location import WorkspaceLocation, redact_uri
from mlkube.workspace.locks import file_lock

if TYPE_CHECKING:
    from mlkube.operations.job_runner import JobRunner
    from mlkube.targets.kubernetes.job_target import KubernetesJobTarget

#: Seconds between reads of a running job's Job, pod and log.
POLL_SECONDS = 2.0
#: How long a cancel waits for the pod to stop (its grace period, and some).
CANCEL_WAIT_SECONDS = 25.0
#: How long a job waits for another job's build of the same image.
BUILD_LOCK_SECONDS = 3600.0
#: MLflow's client settings a pod needs to reach the tracking server as this machine
#: does; they go into the job's Secret, never into the Job's spec.
TRACKING_CREDENTIALS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
                        "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_INSECURE_TLS")
_SECRET_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", *TRACKING_CREDENTIALS)


def check_kubernetes_job(job: Command, compute: KubernetesCompute,
                         location: WorkspaceLocation) -> None:
    """Raise, naming the cause and the fix, when ``job`` cannot run on ``compute`` from
    this workspace; checks everything that does not need the cluster."""
    check_cluster_workspace(location, compute=compute.name)
    check_registry(compute.registry)
    if job.environment is None:
        raise ValidationError(
            f"The job runs on Kubernetes compute {compute.name!r}, where its image is built "
            "from its environment, and it names none.",
            hint="Give the job an environment: a registered one (azureml:name:version), a "
                 "curated name (AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu@latest) or "
                 "Environment(conda_file=...).")
    job_pod_resources(job.resources)
    job_timeout(job.limits)
    for name in job.outputs:
        job_output_path(name)


def check_cluster_workspace(location: WorkspaceLocation, *, compute: str) -> None:
    """A Kubernetes job's pod logs to the workspace over MLflow's tracking API: refuse a
    workspace that no pod can reach."""
    run_elsewhere = "or run the job on compute local or on an AmlCompute."
    if location.embedded:
        raise ValidationError(
            f"Compute {compute!r} runs the job as a Kubernetes Job whose pod records the run "
            "in the workspace, and this workspace is embedded (an MLflow store on SQLite in "
            f"{location.root}), which no pod can reach.",
            hint="Use a workspace on an MLflow tracking server the cluster's pods reach: "
                 "start `mlflow server --host <address pods reach> --serve-artifacts` and "
                 "set MLKUBE_TRACKING_URI=http://<address>:<port> (or MLClient(tracking_uri="
                 f"...)); {run_elsewhere}")
    shown = redact_uri(location.tracking_uri)
    if location.scheme not in ("http", "https"):
        raise ValidationError(
            f"Compute {compute!r} runs the job as a Kubernetes Job whose pod records the run "
            f"in the workspace, and this workspace's tracking URI {shown} is a database, "
            "which a pod would need the driver, the password and the artifact store for.",
            hint="Put an MLflow tracking server in front of it (`mlflow server "
                 "--backend-store-uri <it> --serve-artifacts --host <address pods reach>`) "
                 f"and set MLKUBE_TRACKING_URI to the server's http:// address; {run_elsewhere}")
    host = urlsplit(location.tracking_uri).hostname or ""
    if host == "localhost" or _loopback(host):
        raise ValidationError(
            f"Compute {compute!r} runs the job as a Kubernetes Job whose pod records the run "
            f"at the workspace's tracking server {shown}, and {host} is this machine's "
            "loopback address: in a pod it is the pod itself.",
            hint="Start the tracking server on an address the cluster's pods reach (`mlflow "
                 "server --host <that address>`, e.g. the node network's) and set "
                 f"MLKUBE_TRACKING_URI to it; {run_elsewhere}")


def check_artifact_store(artifact_uri: str, *, compute: str) -> None:
    """The job's run keeps its artifacts where a pod can write them: on the tracking
    server (``mlflow-artifacts:``) or in shared storage, not in a folder of the server's
    machine."""
    scheme = artifact_uri.split(":", 1)[0].lower() if ":" in artifact_uri else ""
    if scheme in ("", "file") or len(scheme) == 1:  # a path, or a Windows drive letter
        raise ValidationError(
            f"The job's run keeps its artifacts at {artifact_uri}, a folder on the tracking "
            f"server's machine, which the pod of a job on compute {compute!r} cannot write "
            "(its model and outputs would be lost).",
            hint="Start the tracking server with --serve-artifacts (artifacts then go through "
                 "it), or give it an --artifacts-destination / --default-artifact-root in "
                 "shared storage (s3://, gs://, wasbs://) the pods can reach.")


def job_timeout(limits: Mapping[str, Any] | None) -> int | None:
    """``limits.timeout`` (seconds), Azure ML's job limit, or None."""
    value = (limits or {}).get("timeout")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
        raise ValidationError(f"The job's limits.timeout is {value!r}; it must be a positive "
                              "number of seconds.",
                              hint="Give limits.timeout in seconds (e.g. 3600), or leave it out.")
    return int(value)


def kubernetes_target(compute: KubernetesCompute) -> KubernetesJobTarget:
    from mlkube.targets.kubernetes.job_target import KubernetesJobTarget

    return KubernetesJobTarget(compute)


def delete_kubernetes_job(compute: KubernetesCompute, name: str) -> bool:
    """Delete job ``name``'s Kubernetes Job (its pod stops); False if it was gone."""
    target = kubernetes_target(compute)
    try:
        return target.delete(name, foreground=True)
    finally:
        target.close()


class KubernetesJobRun:
    """One command job run as a Kubernetes Job by its runner."""

    def __init__(self, runner: JobRunner, compute: KubernetesCompute, *,
                 target: KubernetesJobTarget | None = None,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.runner = runner
        self.compute = compute
        self.target = target or kubernetes_target(compute)
        self.poll_seconds = poll_seconds
        self.name = ""
        self._written = ""

    def run(self, spec: Mapping[str, Any], log: IO[bytes]) -> int:
        runner = self.runner
        self.name = str(spec["name"])
        say = self._say(log)
        location = runner.workspace.location
        check_cluster_workspace(location, compute=self.compute.name)
        check_artifact_store(runner.workspace.runs.get(runner.run_id).artifact_uri,
                             compute=self.compute.name)
        say(f"running on Kubernetes compute {self.compute.name}: a Job in namespace "
            f"{self.compute.namespace}")
        manifests = self._manifests(spec, say)
        if runner.canceled:
            say("canceled before the Job was created")
            runner.record(JobStatus.CANCELED)
            return 1
        # From here SIGTERM only flags the cancel: the loop deletes the Job it applied.
        runner.watching = True
        try:
            self.target.submit(manifests, progress=say)
            return self._follow(log)
        finally:
            self.target.close()

    # --- before the Job --------------------------------------------------------------------

    def _manifests(self, spec: Mapping[str, Any], say: Any) -> list[dict[str, Any]]:
        from mlkube.environments.dockerfile import render_build_context
        from mlkube.environments.server_package import build_server_wheel
        from mlkube.operations.job_inputs import fetch_inputs
        from mlkube.targets.docker.build import build_ca_bundle

        runner = self.runner
        declared = spec.get("inputs", {})
        fetched = fetch_inputs(declared, folder=runner.folder, workspace=runner.workspace,
                               say=say)
        values = dict(fetched.values)
        data: dict[str, Path] = {}
        for key, local in fetched.paths.items():
            inside = job_input_path(key, local, is_file=local.is_file())
            data[inside] = local
            values[key] = inside
        outputs = {key: job_output_path(key) for key in spec.get("outputs", {})}
        command = render_command(spec["command"], inputs=values, outputs=outputs,
                                 known_inputs=declared)
        environment = self._environment(spec.get("environment"), say)
        context = render_build_context(
            environment, build_server_wheel(), code_path=runner.folder / "code", data=data,
            ca_bundle=build_ca_bundle())
        # Jobs submitted together (a sweep) have the same image: one of them builds it,
        # the others then find it built and pushed, instead of all building at once.
        with file_lock(runner.workspace.root / "locks", f"job-image-{context.content_hash}",
                       timeout=BUILD_LOCK_SECONDS):
            image = self.target.publish(context, progress=say)
        code_dir = (context.layout.code_dir if context.layout is not None else None) or ""
        variables = {str(k): str(v) for k, v in spec.get("environment_variables", {}).items()}
        variables.update(command_variables(
            tracking_uri=runner.workspace.tracking_uri, experiment_id=runner.experiment_id,
            experiment_name=runner.experiment_name, run_id=runner.run_id, inputs=values,
            outputs=outputs))
        secret = {k: variables.pop(k) for k in _SECRET_VARIABLES if k in variables}
        secret.update({k: os.environ[k] for k in TRACKING_CREDENTIALS if os.environ.get(k)})
        say(f"command: {command}")
        return render_job_manifests(
            self.name, namespace=self.compute.namespace, image=image.digest_reference,
            command=command, code_dir=code_dir, outputs=list(outputs), variables=variables,
            secret_variables=secret, resources=job_pod_resources(spec.get("resources")),
            timeout_seconds=job_timeout(spec.get("limits")), run_id=runner.run_id,
            experiment=runner.experiment_name)

    def _environment(self, environment: Any, say: Any) -> Any:
        from mlkube.entities.environment import Environment
        from mlkube.environments.resolution import resolve_spec
        from mlkube.operations.environments import CURATED_TAG, EnvironmentOperations

        target = environment if isinstance(environment, str) else Environment.from_dict(
            environment, source="the job's environment")
        found = EnvironmentOperations(self.runner.workspace).find(target)
        if found.tags.get(CURATED_TAG) and found.description:
            say(found.description)
        resolved = resolve_spec(found)
        for note in resolved.sources:
            if "mcr.microsoft.com" in note:
                say(f"environment: {note}")
        return resolved

    # --- while the Job runs ----------------------------------------------------------------

    def _follow(self, log: IO[bytes]) -> int:
        runner, say = self.runner, self._say(log)
        reached = JobStatus.QUEUED
        last = ""
        while True:
            if runner.canceled:
                return self._cancel(log)
            verdict = self.target.read(self.name, log=self._written)
            if verdict is None:
                if runner.canceled:
                    return self._cancel(log)
                error = (f"The Kubernetes Job {job_object_name(self.name)} was deleted "
                         f"from namespace {self.compute.namespace} while the job ran.")
                say(error)
                runner.record(JobStatus.FAILED, error=error)
                return 1
            if verdict.pod and verdict.status in (JobStatus.RUNNING, *JobStatus.TERMINAL):
                self._copy_log(verdict.pod, log)
            if verdict.status in JobStatus.TERMINAL and verdict.pod:
                # Read again with the whole log: a failure quotes its last lines.
                verdict = self.target.read(self.name, log=self._written) or verdict
            if verdict.summary != last:
                say(verdict.summary)
                last = verdict.summary
            if verdict.status in JobStatus.TERMINAL:
                return self._ended(verdict, log)
            if _later(verdict.status, reached):
                reached = verdict.status
                runner.record(reached)
            time.sleep(self.poll_seconds)

    def _copy_log(self, pod: str, log: IO[bytes]) -> None:
        """Append what the pod printed since the last read to the job's log."""
        from mlkube.targets.kubernetes.job_manifests import CONTAINER

        text = self.target.cluster.read_log(pod, container=CONTAINER)
        new = text[len(self._written):] if text.startswith(self._written) else text
        if new:
            log.write(new.encode("utf-8", "replace"))
            log.flush()
        self._written = text

    def _ended(self, verdict: JobVerdict, log: IO[bytes]) -> int:
        runner, say = self.runner, self._say(log)
        if self._written and not self._written.endswith("\n"):
            log.write(b"\n")
        if verdict.status == JobStatus.COMPLETED:
            say(f"command ended with exit code 0 (pod {verdict.pod})")
            runner.record(JobStatus.COMPLETED, exit_code=0)
            self._keep_log(log)
            return 0
        if verdict.exit_code is not None:
            say(f"command ended with exit code {verdict.exit_code} (pod {verdict.pod})")
        if verdict.reason != "Error" and verdict.cause:
            say(f"error: {verdict.error}")
        if verdict.stop:
            # Kubernetes would keep trying (pulling, scheduling): nothing may run later
            # under a job recorded as failed.
            self.target.delete(self.name)
            say(f"deleted Job {job_object_name(self.name)}, which cannot succeed")
        runner.record(JobStatus.FAILED, exit_code=verdict.exit_code, error=verdict.error)
        self._keep_log(log)
        return verdict.exit_code or 1

    def _cancel(self, log: IO[bytes]) -> int:
        say = self._say(log)
        say(f"canceling: deleting Job {job_object_name(self.name)}")
        self.target.delete(self.name, foreground=True)
        deadline = time.monotonic() + CANCEL_WAIT_SECONDS
        while self.target.exists(self.name) and time.monotonic() < deadline:
            time.sleep(0.5)
        say("canceled")
        self.runner.record(JobStatus.CANCELED)
        self._keep_log(log)
        return 1

    def _keep_log(self, log: IO[bytes]) -> None:
        from mlkube.operations.jobs import LOG_ARTIFACT

        log.flush()
        try:
            self.runner.workspace.runs.log_artifacts(
                self.runner.run_id, self.runner.log_path, artifact_path=LOG_ARTIFACT)
        except Exception as error:  # the job's result matters more
            self._say(log)(f"warning: could not keep the log as an artifact: {error}")

    def _say(self, log: IO[bytes]) -> Any:
        return lambda message: self.runner.say(log, message)


def _later(status: str, than: str) -> bool:
    order = JobStatus.ORDER
    return status in order and than in order and order.index(status) > order.index(than)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

