"""What the inference server is told to do, read once at start-up.

The server is configured the way Azure ML's inference server is (its environment
variables, so a container laid out for Azure runs unchanged) plus mlkube's own
``MLKUBE_*`` variables. CLI flags override the environment. ``from_env`` is pure: it
takes the environment as a mapping, so it is tested without touching ``os.environ``,
and ``to_env`` writes settings back as variables for uvicorn's worker processes.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from mlkube.errors import ValidationError

DEFAULT_APP_ROOT = "/var/azureml-app"


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    """Everything the server needs besides the model itself."""

    model_dir: str | None = None
    """``AZUREML_MODEL_DIR``: the model folder (the ``MLmodel`` folder, or the folder
    holding exactly one model folder, as Azure ML lays it out)."""

    mlflow_model_folder: str | None = None
    """``MLFLOW_MODEL_FOLDER``: the MLflow model's subfolder of ``model_dir``."""

    app_root: str = DEFAULT_APP_ROOT
    """``AML_APP_ROOT``: the code folder; a relative entry script is found here."""

    entry_script: str | None = None
    """``AZUREML_ENTRY_SCRIPT``: the score.py (relative to ``app_root`` or absolute).
    Unset means no-code mode: the MLflow model in ``model_dir`` is served."""

    source_directory: str | None = None
    """``AZUREML_SOURCE_DIRECTORY``: added to ``sys.path`` before the script is imported."""

    host: str = "127.0.0.1"
    """``MLKUBE_HOST``: address to listen on (containers pass ``0.0.0.0``)."""

    port: int = 5001
    """``SERVER_PORT``: port to listen on."""

    workers: int = 1
    """``WORKER_COUNT``: worker processes, each loading its own copy of the model."""

    scoring_timeout_ms: int = 3_600_000
    """``SCORING_TIMEOUT_MS``: a scoring request running longer is answered 504."""

    cors_origins: tuple[str, ...] = ()
    """``AML_CORS_ORIGINS``: comma-separated origins allowed by CORS (``*`` for any)."""

    max_request_bytes: int = 100 * 1024 * 1024
    """``MLKUBE_MAX_REQUEST_BYTES``: bodies over this are answered 413."""

    batching: bool = False
    """``MLKUBE_BATCHING``: micro-batch concurrent no-code requests into one predict."""

    max_batch_size: int = 64
    """``MLKUBE_MAX_BATCH_SIZE``: most requests one batched predict takes."""

    max_batch_wait_ms: float = 0.0
    """``MLKUBE_MAX_BATCH_WAIT_MS``: extra time a batch waits to fill (0: only what
    queued while the previous predict ran)."""

    scoring_threads: int = 1
    """``MLKUBE_SCORING_THREADS``: threads running predict/run; 1 keeps Azure's
    guarantee that ``run`` is never called concurrently in one process."""

    model_name: str | None = None
    """``MLKUBE_MODEL_NAME``: the model's name on the v2 routes (default: derived
    from the model folder)."""

    model_version: str | None = None
    """``MLKUBE_MODEL_VERSION``: the model's version on the v2 routes."""

    @property
    def entry_script_path(self) -> str | None:
        """The entry script as an absolute path, or None in no-code mode."""
        if not self.entry_script:
            return None
        if os.path.isabs(self.entry_script):
            return self.entry_script
        return os.path.join(self.app_root, self.entry_script)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> ServerSettings:
        """Settings from environment variables; non-None ``overrides`` (CLI flags) win."""
        values: dict[str, Any] = {}
        for field_name, (variable, parse) in _VARIABLES.items():
            raw = environ.get(variable)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[field_name] = parse(raw.strip())
            except ValueError:
                raise ValidationError(
                    f"Environment variable {variable}={raw!r} is not a valid {parse.__name__}.",
                    hint=f"Set {variable} to a {parse.__name__} value, or unset it.",
                ) from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Reject values that cannot work, naming the setting and the fix."""
        for name, low in (("port", 0), ("workers", 1), ("scoring_timeout_ms", 1),
                          ("max_request_bytes", 1), ("max_batch_size", 1),
                          ("scoring_threads", 1)):
            if getattr(self, name) < low:
                raise ValidationError(
                    f"Server setting {name}={getattr(self, name)} is out of range.",
                    hint=f"Use a value of at least {low}.",
                )
        if self.max_batch_wait_ms < 0:
            raise ValidationError(
                f"Server setting max_batch_wait_ms={self.max_batch_wait_ms} is negative.",
                hint="Use 0 (no extra wait) or a positive number of milliseconds.",
            )
        if not self.model_dir and not self.entry_script:
            raise ValidationError(
                "Nothing to serve: neither a model folder nor an entry script is set.",
                hint="Pass --model-dir (an MLflow model) and/or --entry-script (a score.py), "
                "or set AZUREML_MODEL_DIR / AZUREML_ENTRY_SCRIPT.",
            )

    def to_env(self) -> dict[str, str]:
        """These settings as environment variables (read back by ``from_env``)."""
        env: dict[str, str] = {}
        for field_name, (variable, _parse) in _VARIABLES.items():
            value = getattr(self, field_name)
            if value is None:
                continue
            if isinstance(value, bool):
                env[variable] = "1" if value else "0"
            elif isinstance(value, tuple):
                env[variable] = ",".join(value)
            else:
                env[variable] = str(value)
        return env


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


_bool.__name__ = "boolean"


def _origins(raw: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in raw.split(",") if o.strip())


_origins.__name__ = "comma-separated list"

_VARIABLES: dict[str, tuple[str, Any]] = {
    "model_dir": ("AZUREML_MODEL_DIR", str),
    "mlflow_model_folder": ("MLFLOW_MODEL_FOLDER", str),
    "app_root": ("AML_APP_ROOT", str),
    "entry_script": ("AZUREML_ENTRY_SCRIPT", str),
    "source_directory": ("AZUREML_SOURCE_DIRECTORY", str),
    "host": ("MLKUBE_HOST", str),
    "port": ("SERVER_PORT", int),
    "workers": ("WORKER_COUNT", int),
    "scoring_timeout_ms": ("SCORING_TIMEOUT_MS", int),
    "cors_origins": ("AML_CORS_ORIGINS", _origins),
    "max_request_bytes": ("MLKUBE_MAX_REQUEST_BYTES", int),
    "batching": ("MLKUBE_BATCHING", _bool),
    "max_batch_size": ("MLKUBE_MAX_BATCH_SIZE", int),
    "max_batch_wait_ms": ("MLKUBE_MAX_BATCH_WAIT_MS", float),
    "scoring_threads": ("MLKUBE_SCORING_THREADS", int),
    "model_name": ("MLKUBE_MODEL_NAME", str),
    "model_version": ("MLKUBE_MODEL_VERSION", str),
}
