"""Azure's exception names, for ``except`` clauses of ported scripts.

``from azure.ai.ml.exceptions import LocalEndpointNotFoundError`` and
``from azure.core.exceptions import ResourceNotFoundError`` become
``from mlkube.exceptions import ...``. Every name is one of mlkube's own error classes
(``mlkube.errors``), not a copy: ``except ResourceNotFoundError`` catches exactly what
mlkube raises when a model, job, compute, endpoint or deployment does not exist.
"""

from __future__ import annotations

from mlkube.errors import (
    ConflictError,
    DeploymentFailedError,
    EnvironmentBuildError,
    JobFailedError,
    LocalEndpointNotFoundError,
    MlkubeError,
    RequiredLocalArtifactsNotFoundError,
    ResourceNotFoundError,
    UnauthorizedError,
    ValidationError,
)

# azure.core.exceptions
AzureError = MlkubeError
HttpResponseError = MlkubeError
ResourceExistsError = ConflictError
ClientAuthenticationError = UnauthorizedError

# azure.ai.ml.exceptions
MlException = MlkubeError
UserErrorException = ValidationError
ValidationException = ValidationError
LocalEndpointInFailedStateError = DeploymentFailedError
LocalEndpointImageBuildError = EnvironmentBuildError
DeploymentException = DeploymentFailedError
JobException = JobFailedError

__all__ = [
    "AzureError", "ClientAuthenticationError", "DeploymentException", "HttpResponseError",
    "JobException", "LocalEndpointImageBuildError", "LocalEndpointInFailedStateError",
    "LocalEndpointNotFoundError", "MlException", "RequiredLocalArtifactsNotFoundError",
    "ResourceExistsError", "ResourceNotFoundError", "UserErrorException", "ValidationError",
    "ValidationException",
]
