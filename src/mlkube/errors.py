"""The one exception tree of mlkube.

Every error a user can meet says what went wrong (``message``) and how to fix it
(``hint``). The CLI prints both and exits 1. Over HTTP an error is its ``http_status``
and one JSON body, ``{"error", "error_code", "message", "hint"}`` (v2 clients read
``error``, MLflow clients ``error_code`` and ``message``): ``error_body`` writes it for
the inference server and the gateway alike, and ``error_from_response`` turns an answer
back into the error for a client, so the vocabulary lives on the classes and nowhere
else. Nothing here imports a web framework, so any layer may raise these.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson


class MlkubeError(Exception):
    """Base class: a failure the user can act on."""

    #: Status an HTTP server answers with when this error describes a request.
    http_status: int = 500
    #: The ``error_code`` of the JSON error body (MLflow's codes where one fits).
    error_code: str = "INTERNAL_ERROR"

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
    error_code = "INVALID_PARAMETER_VALUE"


class ResourceNotFoundError(MlkubeError):
    """A named thing (model, version, job, endpoint, ...) does not exist."""

    http_status = 404
    error_code = "RESOURCE_DOES_NOT_EXIST"


class LocalEndpointNotFoundError(ResourceNotFoundError):
    """A local endpoint or deployment does not exist (Azure ML's name, kept for ports)."""


class RequiredLocalArtifactsNotFoundError(MlkubeError):
    """A path a spec refers to (model, code, conda file) is missing on disk."""

    http_status = 400
    error_code = "REQUIRED_ARTIFACTS_NOT_FOUND"


class ConflictError(MlkubeError):
    """The operation clashes with the current state (name taken, still in use)."""

    http_status = 409
    error_code = "RESOURCE_CONFLICT"


# --- environments, jobs, targets ---------------------------------------------------------


class WorkspaceUnavailableError(MlkubeError):
    """The workspace's store (database, tracking server) cannot be reached."""

    http_status = 503
    error_code = "TEMPORARILY_UNAVAILABLE"


class EnvironmentResolutionError(MlkubeError):
    """An environment cannot be turned into a python version and pip requirements."""


class EnvironmentBuildError(MlkubeError):
    """Materialising an environment (virtualenv or image) failed."""


class JobFailedError(MlkubeError):
    """A command job ended in Failed."""


class DeploymentFailedError(MlkubeError):
    """A deployment did not become ready; the message carries the cause from its log."""


class RolloutRolledBackError(DeploymentFailedError):
    """A progressive rollout crossed a threshold and restored the previous traffic; the
    message names the threshold, the value seen and the step."""


class TargetError(MlkubeError):
    """A deployment target (local, docker, kubernetes) could not do what was asked."""


# --- the scoring data plane ---------------------------------------------------------------


class InvalidInputError(MlkubeError):
    """A scoring request body is malformed or does not match the model's signature."""

    http_status = 400
    error_code = "BAD_REQUEST"


class UnsupportedMediaTypeError(MlkubeError):
    """A scoring request has a content type the server cannot read."""

    http_status = 415
    error_code = "UNSUPPORTED_MEDIA_TYPE"


class PayloadTooLargeError(MlkubeError):
    """A scoring request body is over the configured limit."""

    http_status = 413
    error_code = "PAYLOAD_TOO_LARGE"


class ModelNotReadyError(MlkubeError):
    """The model (or entry script) failed to load, or is still loading."""

    http_status = 503
    error_code = "MODEL_NOT_READY"


class ScoringFailedError(MlkubeError):
    """The model's predict or the entry script's run raised."""

    http_status = 500
    error_code = "SCORING_FAILED"


class RouteNotFoundError(ResourceNotFoundError):
    """A request names a path that no route serves."""

    error_code = "ENDPOINT_NOT_FOUND"


class MethodNotAllowedError(MlkubeError):
    """A request uses a method its route does not take."""

    http_status = 405
    error_code = "METHOD_NOT_ALLOWED"


class RequestHeaderTooLargeError(MlkubeError):
    """A request header (a request id) is over the length the servers accept."""

    http_status = 431
    error_code = "REQUEST_HEADER_TOO_LARGE"


class ScoringTimeoutError(MlkubeError):
    """Scoring took longer than the configured timeout."""

    http_status = 504
    error_code = "SCORING_TIMEOUT"


# --- the endpoint gateway -----------------------------------------------------------------


class UnauthorizedError(MlkubeError):
    """A scoring request has no credential, or a wrong or expired one."""

    http_status = 401
    error_code = "UNAUTHORIZED"


class TooManyRequestsError(MlkubeError):
    """A deployment already has max_concurrent_requests_per_instance x instances in flight."""

    http_status = 429
    error_code = "TOO_MANY_REQUESTS"


class ModelContainerError(MlkubeError):
    """The deployment's inference server is not running (failed, updating, no instance)."""

    http_status = 424
    error_code = "MODEL_CONTAINER_ERROR"


class DeploymentStartingError(MlkubeError):
    """A request held while a deployment scaled to zero starts found no ready instance in
    time (its request timeout)."""

    http_status = 503
    error_code = "DEPLOYMENT_STARTING"


class BadGatewayError(MlkubeError):
    """The deployment's inference server refused the connection or broke it mid-request."""

    http_status = 502
    error_code = "BAD_GATEWAY"


# --- HTTP itself (the protocol layer both servers share, before any route) --------------


class MalformedRequestError(InvalidInputError):
    """The request is not valid HTTP/1.1 (request line, header syntax, framing), or
    repeats a header that must appear once (``Authorization``)."""


class RequestTimeoutError(MlkubeError):
    """The request's line and headers did not arrive within the server's deadline."""

    http_status = 408
    error_code = "REQUEST_TIMEOUT"


class TooManyConnectionsError(MlkubeError):
    """The server already holds its maximum of open connections."""

    http_status = 503
    error_code = "TOO_MANY_CONNECTIONS"


class ClusterApiError(TargetError):
    """The Kubernetes API server answered with an error; keeps its ``Status`` code and
    reason (``Forbidden``, ``NotFound``, ``Invalid``, ...) for callers that branch on them."""

    def __init__(self, message: str, *, hint: str | None = None, code: int | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.reason = reason


# --- errors over HTTP ----------------------------------------------------------------------

#: What a client makes of a status whose body names no code it knows (another server,
#: a proxy): the error a user would expect there.
_STATUS_ERRORS: dict[int, type[MlkubeError]] = {
    400: InvalidInputError, 401: UnauthorizedError, 404: ResourceNotFoundError,
    408: ScoringTimeoutError, 415: UnsupportedMediaTypeError, 424: ModelContainerError,
    429: TooManyRequestsError, 500: ScoringFailedError, 502: BadGatewayError,
    503: ModelNotReadyError, 504: ScoringTimeoutError,
}


@dataclass(frozen=True)
class ErrorBody:
    """The fields of one JSON error body, as read back by a client."""

    error_code: str | None
    message: str
    hint: str | None


def error_body(error: MlkubeError) -> bytes:
    """The one JSON error shape every route of the server and the gateway answers with.
    It carries the error's own message and hint only: never the payload or a secret."""
    return orjson.dumps({"error": error.message, "error_code": error.error_code,
                         "message": error.message, "hint": error.hint})


def parse_error_body(body: bytes) -> ErrorBody | None:
    """The fields of ``body`` if it is a JSON error body, else None."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    code = data.get("error_code")
    hint = data.get("hint")
    return ErrorBody(error_code=code if isinstance(code, str) else None,
                     message=str(data.get("message") or data.get("error") or ""),
                     hint=hint if isinstance(hint, str) and hint else None)


def error_from_response(status: int, body: bytes, *, what: str, hint: str) -> MlkubeError:
    """The error for a non-2xx answer to ``what`` ("Invoking endpoint x"): the class its
    ``error_code`` names (else the one its status suggests), with the server's message and
    hint when it sent them. ``hint`` is the fallback when it sent none."""
    parsed = parse_error_body(body)
    if parsed is None:
        message = body.decode("utf-8", "replace").strip()[:500]
        error_class = _STATUS_ERRORS.get(status, MlkubeError)
        server_hint = None
    else:
        message, server_hint = parsed.message, parsed.hint
        error_class = (_class_of_code(parsed.error_code)
                       or _STATUS_ERRORS.get(status, MlkubeError))
    return error_class(f"{what} failed with HTTP {status}: {message or '(no body)'}",
                       hint=server_hint or hint)


def _class_of_code(code: str | None) -> type[MlkubeError] | None:
    """The class that defines ``code`` (not one that inherits it); None for the base's
    generic code, which says nothing a status does not."""
    if code is None or code == MlkubeError.error_code:
        return None
    pending: list[type[MlkubeError]] = [MlkubeError]
    while pending:
        cls = pending.pop(0)
        if cls.__dict__.get("error_code") == code:
            return cls
        pending += cls.__subclasses__()
    return None
