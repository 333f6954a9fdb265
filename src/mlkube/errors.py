"""The one exception tree of mlkube.

Every error a user can meet says what went wrong (``message``) and how to fix it
(``hint``). The CLI prints both and exits 1; the servers turn the ones that describe a
request into one JSON error shape using ``http_status``. Nothing here imports a web
framework, so any layer may raise these.
"""

from __future__ import annotations


class MlkubeError(Exception):
    """Base class: a failure the user can act on."""

    #: Status an HTTP server answers with when this error describes a request.
    http_status: int = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nHint: {self.hint}"
        return self.message


# --- specs, files and flags -------------------------------------------------------------


class ValidationError(MlkubeError):
    """A spec, YAML file, flag or argument is invalid."""

    http_status = 400


class ResourceNotFoundError(MlkubeError):
    """A named thing (model, version, job, endpoint, ...) does not exist."""

    http_status = 404


class LocalEndpointNotFoundError(ResourceNotFoundError):
    """A local endpoint or deployment does not exist (Azure ML's name, kept for ports)."""


class RequiredLocalArtifactsNotFoundError(MlkubeError):
    """A path a spec refers to (model, code, conda file) is missing on disk."""

    http_status = 400


class ConflictError(MlkubeError):
    """The operation clashes with the current state (name taken, still in use)."""

    http_status = 409


# --- environments, jobs, targets ---------------------------------------------------------


class WorkspaceUnavailableError(MlkubeError):
    """The workspace's store (database, tracking server) cannot be reached."""

    http_status = 503


class EnvironmentResolutionError(MlkubeError):
    """An environment cannot be turned into a python version and pip requirements."""


class EnvironmentBuildError(MlkubeError):
    """Materialising an environment (virtualenv or image) failed."""


class JobFailedError(MlkubeError):
    """A command job ended in Failed."""


class DeploymentFailedError(MlkubeError):
    """A deployment did not become ready; the message carries the cause from its log."""


class TargetError(MlkubeError):
    """A deployment target (local, docker, kubernetes) could not do what was asked."""


# --- the scoring data plane ---------------------------------------------------------------


class InvalidInputError(MlkubeError):
    """A scoring request body is malformed or does not match the model's signature."""

    http_status = 400


class UnsupportedMediaTypeError(MlkubeError):
    """A scoring request has a content type the server cannot read."""

    http_status = 415


class PayloadTooLargeError(MlkubeError):
    """A scoring request body is over the configured limit."""

    http_status = 413


class ModelNotReadyError(MlkubeError):
    """The model (or entry script) failed to load, or is still loading."""

    http_status = 503


class ScoringFailedError(MlkubeError):
    """The model's predict or the entry script's run raised."""

    http_status = 500


class ScoringTimeoutError(MlkubeError):
    """Scoring took longer than the configured timeout."""

    http_status = 504


# --- the endpoint gateway -----------------------------------------------------------------


class UnauthorizedError(MlkubeError):
    """A scoring request has no credential, or a wrong or expired one."""

    http_status = 401


class TooManyRequestsError(MlkubeError):
    """A deployment already has max_concurrent_requests_per_instance x instances in flight."""

    http_status = 429


class ModelContainerError(MlkubeError):
    """The deployment's inference server is not running (failed, updating, no instance)."""

    http_status = 424


class BadGatewayError(MlkubeError):
    """The deployment's inference server refused the connection or broke it mid-request."""

    http_status = 502


class ClusterApiError(TargetError):
    """The Kubernetes API server answered with an error; keeps its ``Status`` code and
    reason (``Forbidden``, ``NotFound``, ``Invalid``, ...) for callers that branch on them."""

    def __init__(self, message: str, *, hint: str | None = None, code: int | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.reason = reason
