"""The command job: a command run with inputs, in an environment, on a compute.

Shaped like Azure ML v2's ``command(...)`` builder and command-job YAML, so a submission
script ports by changing imports. The command's ``${{inputs.name}}`` and
``${{outputs.name}}`` references are checked and substituted here, by pure functions, so
a bad reference fails before anything runs, with a message naming it and the inputs that
do exist. ``$[[ ... ]]`` marks an optional part, dropped when its input is not given.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from mlkube.entities.environment import Environment
from mlkube.entities.input import Input, Output
from mlkube.entities.sdk_resource import SdkResource
from mlkube.errors import ValidationError


class JobStatus:
    """The statuses a job moves through (Azure ML's names)."""

    QUEUED = "Queued"
    #: On Kubernetes: the pod is scheduled and its image is being pulled or started.
    STARTING = "Starting"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"

    TERMINAL = frozenset({COMPLETED, FAILED, CANCELED})
    #: The order statuses move in: a status read later never goes back to an earlier one.
    ORDER = (QUEUED, STARTING, RUNNING)


_REFERENCE = re.compile(r"\$\{\{\s*([A-Za-z_][\w]*)\.([\w.-]+)\s*\}\}")
_OPTIONAL = re.compile(r"\$\[\[(.*?)\]\]", re.DOTALL)

JobInput = Input | bool | int | float | str


class Command(SdkResource):
    """A command job (Azure ML's ``Command``; ``type: command`` in YAML).

    Read-only fields (``status``, ``exit_code``, ``error``, ``run_id``, ...) are set by the
    workspace when the job is submitted or fetched.
    """

    type: Literal["command"] = "command"
    name: str | None = None
    display_name: str | None = None
    experiment_name: str | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    properties: dict[str, str] = Field(default_factory=dict)
    command: str
    code: str | None = None
    inputs: dict[str, JobInput] = Field(default_factory=dict)
    outputs: dict[str, Output] = Field(default_factory=dict)
    environment: str | Environment | None = None
    environment_variables: dict[str, str] = Field(default_factory=dict)
    compute: str = "local"
    # Accepted so Azure ML YAML loads unchanged; a local job has no use for them.
    resources: dict[str, Any] | None = None
    distribution: dict[str, Any] | None = None
    limits: dict[str, Any] | None = None
    identity: dict[str, Any] | None = None
    services: dict[str, Any] | None = None
    queue_settings: dict[str, Any] | None = None
    # Read-only, set by the workspace.
    status: str | None = None
    exit_code: int | None = None
    error: str | None = None
    run_id: str | None = None
    experiment_id: str | None = None
    creation_context: dict[str, str] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<spec>",
                  base_path: str | None = None) -> Command:
        resolved = dict(data)
        if base_path is not None:
            resolved = _resolve_code(resolved, base_path)
        return super().from_dict(resolved, source=source, base_path=base_path)

    def check_references(self) -> None:
        """Raise ``ValidationError`` for any ``${{...}}`` the command cannot resolve."""
        render_command(self.command, inputs=dict.fromkeys(self.inputs, "x"),
                       outputs=dict.fromkeys(self.outputs, "x"), known_inputs=self.inputs)


def _resolve_code(data: dict[str, Any], base_path: str) -> dict[str, Any]:
    """``code`` in YAML is relative to the YAML file, as the Azure ML CLI reads it."""
    import os

    code = data.get("code")
    if isinstance(code, str) and not code.startswith(("azureml:", "http://", "https://")):
        expanded = os.path.expanduser(code)
        if not os.path.isabs(expanded):
            data["code"] = os.path.join(base_path, expanded)
    return data


def render_command(
    command: str,
    *,
    inputs: Mapping[str, str],
    outputs: Mapping[str, str],
    known_inputs: Mapping[str, Any] | None = None,
) -> str:
    """Substitute ``${{inputs.x}}`` / ``${{outputs.y}}`` with the given values.

    ``inputs`` holds the value of every input that was given; ``known_inputs`` every input
    the job declares (given or not): a reference to a declared but missing input is only
    allowed inside an optional ``$[[ ... ]]`` part, which is then dropped.
    """
    declared = dict(known_inputs if known_inputs is not None else inputs)

    def check(namespace: str, key: str, reference: str) -> None:
        if namespace == "inputs" and key not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise ValidationError(
                f"The command refers to {reference}, but the job has no input {key!r} "
                f"(inputs: {known}).",
                hint=f"Add an input named {key!r} to the job's inputs, or fix the reference.",
            )
        if namespace == "outputs" and key not in outputs:
            known = ", ".join(sorted(outputs)) or "none"
            raise ValidationError(
                f"The command refers to {reference}, but the job has no output {key!r} "
                f"(outputs: {known}).",
                hint=f"Add an output named {key!r} to the job's outputs, or fix the reference.",
            )
        if namespace not in ("inputs", "outputs"):
            raise ValidationError(
                f"The command refers to {reference}; a command job can only refer to "
                "${{inputs.<name>}} and ${{outputs.<name>}}.",
                hint="Use an input (inputs: {name: value}) and refer to it as "
                "${{inputs.name}}.",
            )

    def substitute(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            namespace, key = match.group(1), match.group(2)
            check(namespace, key, match.group(0))
            values = inputs if namespace == "inputs" else outputs
            if key not in values:
                raise ValidationError(
                    f"The command refers to {match.group(0)}, but no value was given for "
                    f"input {key!r}.",
                    hint=f"Give the input {key!r} a value, or wrap the part of the command "
                    "that uses it in $[[ ... ]] to make it optional.",
                )
            value = values[key]
            # The command runs in a shell: a path with spaces must stay one argument,
            # unless the author already put the reference in quotes.
            quoted = match.start() > 0 and text[match.start() - 1] in "\"'"
            return value if quoted else shlex.quote(value)

        return _REFERENCE.sub(one, text)

    def optional(match: re.Match[str]) -> str:
        part = match.group(1)
        for ref in _REFERENCE.finditer(part):
            check(ref.group(1), ref.group(2), ref.group(0))
            values = inputs if ref.group(1) == "inputs" else outputs
            if ref.group(2) not in values:
                return ""
        return substitute(part)

    return substitute(_OPTIONAL.sub(optional, command))


def command_variables(*, tracking_uri: str, experiment_id: str, experiment_name: str,
                      run_id: str, inputs: Mapping[str, str],
                      outputs: Mapping[str, str]) -> dict[str, str]:
    """What mlkube sets for a job's command on every compute: MLflow pointed at the job's
    run (so ``mlflow.autolog()`` records into it) and Azure ML's run and input/output
    variables."""
    variables = {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_REGISTRY_URI": tracking_uri,
        "MLFLOW_EXPERIMENT_ID": experiment_id,
        "MLFLOW_EXPERIMENT_NAME": experiment_name,
        "MLFLOW_RUN_ID": run_id,
        "AZUREML_RUN_ID": run_id,
        "PYTHONUNBUFFERED": "1",
    }
    variables.update({f"AZURE_ML_INPUT_{k}": v for k, v in inputs.items()})
    variables.update({f"AZURE_ML_OUTPUT_{k}": v for k, v in outputs.items()})
    return variables


def literal_text(value: bool | int | float | str) -> str:
    """How a literal input appears in the command line (booleans as Azure ML writes them)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def command(
    *,
    command: str,
    code: str | None = None,
    inputs: Mapping[str, JobInput] | None = None,
    outputs: Mapping[str, Output] | None = None,
    environment: str | Environment | None = None,
    environment_variables: Mapping[str, str] | None = None,
    compute: str | None = None,
    experiment_name: str | None = None,
    display_name: str | None = None,
    name: str | None = None,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    **azure_only: Any,
) -> Command:
    """Build a command job, as Azure ML's ``azure.ai.ml.command(...)``.

    Azure-only arguments (``instance_count``, ``distribution``, ``resources``, ...) are
    accepted and ignored when running locally.
    """
    known_extras = {"distribution", "resources", "limits", "identity", "services",
                    "queue_settings", "properties"}
    extras = {k: v for k, v in azure_only.items() if k in known_extras and v is not None}
    return Command(
        command=command,
        code=None if code is None else str(code),
        inputs=dict(inputs or {}),
        outputs=dict(outputs or {}),
        environment=environment,
        environment_variables=dict(environment_variables or {}),
        compute=compute or "local",
        experiment_name=experiment_name,
        display_name=display_name,
        name=name,
        description=description,
        tags=dict(tags or {}),
        **extras,
    )
