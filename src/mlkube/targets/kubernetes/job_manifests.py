"""A command job as Kubernetes objects: one ``batch/v1`` Job and the Secret it reads.

The pod runs the job's image (its environment, code and local inputs, built as a
deployment's image is) with the command mlkube resolved (inputs substituted) under
``/bin/bash -c``, as the unprivileged user every mlkube container runs as, with the
namespace's ``mlkube-workload`` account and no API token. The image is read-only and its
files are root's, so the pod's script (``job_script``) first copies the code to a
writable folder on the pod's ``/tmp`` (scripts write ``./outputs`` and caches beside
themselves, as they do locally), runs the command there, and passes SIGTERM on to it
(bash as PID 1 would ignore it). Named outputs and ``./outputs`` are then logged to the
job's MLflow run, the only place they outlive the pod. MLflow's
tracking URI (which may hold a password) and any tracking credentials are in a Secret the
pod reads as variables, never in the Job's spec; once the Job exists the Secret is owned
by it, so Kubernetes deletes both together.

A Job runs once: ``backoffLimit`` 0 (a failed command is the job's result, not a reason to
run it again) and ``restartPolicy: Never``; ``ttlSecondsAfterFinished`` removes it a week
after it ends, by which time mlkube has recorded its end and log in the workspace.
``limits.timeout`` becomes ``activeDeadlineSeconds``. Pure: dicts in, dicts out.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

from mlkube.entities.deployment_settings import ResourceRequirementsSettings
from mlkube.errors import ValidationError
from mlkube.targets.kubernetes import labels as lbl
from mlkube.targets.kubernetes.install import WORKLOAD_ACCOUNT
from mlkube.targets.kubernetes.names import dns_label, job_object_name
from mlkube.targets.kubernetes.pod_spec import (
    container_security_context,
    pod_security_context,
    tmp_mount,
    tmp_volume,
    writable_home_env,
)
from mlkube.targets.kubernetes.sizing import container_resources

#: The container of a job's pod (its log is the job's log).
CONTAINER = "job"
#: How long a finished Job, its pod and log stay in the cluster.
TTL_SECONDS = 7 * 24 * 3600
JOB_NAME_ANNOTATION = "mlkube.io/job-name"
RUN_ID_ANNOTATION = "mlkube.io/run-id"
EXPERIMENT_ANNOTATION = "mlkube.io/experiment"
#: Seconds a canceled job's command has to stop after SIGTERM.
TERMINATION_GRACE_SECONDS = 10
#: The writable folder a job runs in (on the pod's ``/tmp`` emptyDir).
WORK_DIR = "/tmp/mlkube-job"
#: The variable holding the user's command, which the pod's script runs.
COMMAND_VARIABLE = "MLKUBE_COMMAND"


def job_output_path(name: str) -> str:
    """Where output ``name`` (``${{outputs.<name>}}``) is inside a job's pod."""
    if not name or "/" in name or name in (".", ".."):
        raise ValidationError(f"{name!r} cannot be an output's name.",
                              hint="Name outputs with letters, digits and underscores.")
    return f"{WORK_DIR}/outputs/{name}"


def job_script(*, code_dir: str, outputs: Sequence[str]) -> str:
    """The pod's script: copy the code from the image to ``WORK_DIR/code``, create the
    outputs' folders, run ``$MLKUBE_COMMAND`` there (SIGTERM passed on), log what the
    outputs and ``./outputs`` hold to the job's run, and exit with the command's code."""
    folders = " ".join(_quote(job_output_path(name)) for name in outputs)
    kept = [[name, job_output_path(name)] for name in outputs]
    kept.append(["outputs", f"{WORK_DIR}/code/outputs"])
    keep_outputs = "\n".join([
        "import os, sys",
        f"found = [(n, p) for n, p in {json.dumps(kept)} if os.path.isdir(p) and os.listdir(p)]",
        "if found:",
        "    try:",
        "        from mlflow.tracking import MlflowClient",
        "    except ImportError:",
        "        sys.exit('[mlkube] mlflow is not in the job environment: its outputs "
        "are not kept')",
        "    for name, path in found:",
        "        MlflowClient().log_artifacts(os.environ['MLFLOW_RUN_ID'], path, name)",
        "        print('[mlkube] kept output ' + name + ' in the job run', flush=True)",
    ])
    return "\n".join([
        f"mkdir -p {_quote(WORK_DIR + '/code')} {folders}".rstrip(),
        f"cp -R {_quote(code_dir.rstrip('/') + '/.')} {_quote(WORK_DIR + '/code/')} || exit 1",
        f"cd {_quote(WORK_DIR + '/code')} || exit 1",
        "child=",
        "trap 'kill -TERM \"$child\" 2>/dev/null' TERM INT",
        f'/bin/bash -c "${COMMAND_VARIABLE}" &',
        "child=$!",
        'wait "$child"; status=$?',
        # A trapped signal ends the first wait early: wait for the command itself (bash
        # keeps a finished child's status, so this also reads one that ended meanwhile).
        'if [ "$status" -gt 128 ]; then wait "$child"; status=$?; fi',
        "python - <<'MLKUBE_OUTPUTS' || echo '[mlkube] warning: the outputs were not kept'",
        keep_outputs,
        "MLKUBE_OUTPUTS",
        'exit "$status"',
    ]) + "\n"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def job_secret_name(job: str) -> str:
    """The Secret with a job's tracking settings."""
    return job_object_name(job, suffix="tracking")


def render_job_manifests(
    job: str,
    *,
    namespace: str,
    image: str,
    command: str,
    code_dir: str,
    outputs: Sequence[str] = (),
    variables: Mapping[str, str],
    secret_variables: Mapping[str, str],
    resources: ResourceRequirementsSettings,
    timeout_seconds: int | None = None,
    run_id: str | None = None,
    experiment: str | None = None,
) -> list[dict[str, Any]]:
    """The Secret and the Job of command job ``job``, in apply order.

    ``command`` is the user's command with its references substituted (paths inside the
    pod), ``code_dir`` where the image holds the code, ``outputs`` the job's output
    names. ``variables`` are the command's environment; ``secret_variables`` go into the
    Secret and win over a variable of the same name (mlkube's tracking settings are not
    the user's to override, as for local jobs).
    """
    if dns_label(namespace) != namespace:
        raise ValidationError(f"Namespace {namespace!r} is not a valid Kubernetes name.",
                              hint="Use lowercase letters, digits and '-', starting with a "
                                   "letter (at most 63 characters).")
    if not command.strip():
        raise ValidationError("The job's command is empty.",
                              hint="Give the job a command, e.g. python train.py.")
    for name in [*variables, *secret_variables]:
        if not name or "=" in name:
            raise ValidationError(f"{name!r} cannot be an environment variable's name.",
                                  hint="Use letters, digits and underscores.")
    if timeout_seconds is not None and timeout_seconds < 1:
        raise ValidationError(f"The job's limits.timeout ({timeout_seconds}) must be a "
                              "positive number of seconds.",
                              hint="Give limits.timeout in seconds, or leave it out.")
    object_name = job_object_name(job)
    labels = lbl.job_labels(job, object_name)
    annotations = {JOB_NAME_ANNOTATION: job}
    if run_id:
        annotations[RUN_ID_ANNOTATION] = run_id
    if experiment:
        annotations[EXPERIMENT_ANNOTATION] = experiment
    secret_name = job_secret_name(job)
    secret = {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": secret_name, "namespace": namespace, "labels": labels,
                     "annotations": dict(annotations)},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in secret_variables.items()},
    }
    env = [{"name": k, "value": v} for k, v in
           {**{item["name"]: item["value"] for item in writable_home_env()},
            **variables, COMMAND_VARIABLE: command}.items() if k not in secret_variables]
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/bash", "-c", job_script(code_dir=code_dir, outputs=outputs)],
        "workingDir": WORK_DIR.rsplit("/", 1)[0],
        "env": env,
        "envFrom": [{"secretRef": {"name": secret_name}}],
        "resources": container_resources(resources),
        "securityContext": container_security_context(),
        "volumeMounts": [tmp_mount()],
    }
    spec: dict[str, Any] = {
        "backoffLimit": 0,
        "ttlSecondsAfterFinished": TTL_SECONDS,
    }
    if timeout_seconds is not None:
        spec["activeDeadlineSeconds"] = timeout_seconds
    spec["template"] = {
        "metadata": {"labels": labels, "annotations": dict(annotations)},
        "spec": {
            "restartPolicy": "Never",
            "serviceAccountName": WORKLOAD_ACCOUNT,
            # The command is the user's: it gets no credentials for the cluster's API.
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": pod_security_context(),
            "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
            "containers": [container],
            "volumes": [tmp_volume()],
        },
    }
    job_object = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": object_name, "namespace": namespace, "labels": labels,
                     "annotations": annotations},
        "spec": spec,
    }
    return copy.deepcopy([secret, job_object])


def owned_by(manifest: Mapping[str, Any], owner: Mapping[str, Any]) -> dict[str, Any]:
    """``manifest`` with ``owner`` (an object as the API returned it, with its uid) as its
    owner: Kubernetes' garbage collector deletes it when the owner is deleted."""
    metadata = owner.get("metadata") or {}
    if not metadata.get("uid"):
        raise ValidationError(f"{owner.get('kind')} {metadata.get('name')} has no uid.",
                              hint="Pass the object as the API server returned it.")
    owned = copy.deepcopy(dict(manifest))
    owned["metadata"]["ownerReferences"] = [{
        "apiVersion": owner.get("apiVersion", "batch/v1"), "kind": owner.get("kind", "Job"),
        "name": metadata["name"], "uid": metadata["uid"],
    }]
    return owned
