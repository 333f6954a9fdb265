"""The endpoint gateway: one per online endpoint, the same code on every target.

It authenticates (``auth``), picks a deployment by header or traffic weight and mirrors a
share (``routing``), admits and balances requests over a deployment's instances
(``instances``), proxies to inference servers (``upstream``) and reports (``metrics``,
access log). ``app.create_app`` builds the ASGI app that `mlkube gateway run` serves.

Targets generate the gateway's inputs with the pure functions exported here:
``GatewayConfig`` / ``dump_gateway_config`` for the config file and ``generate_keys`` /
``dump_endpoint_keys`` for the keys file; ``issue_token`` for ``aml_token`` endpoints.
This package imports nothing heavy, so the control plane can use it freely; the server
parts (uvicorn, httptools) load only with ``mlkube.gateway.app``.
"""

from mlkube.gateway.auth import (
    DEFAULT_TOKEN_TTL,
    EndpointKeys,
    dump_endpoint_keys,
    generate_keys,
    issue_token,
    load_endpoint_keys,
    regenerate_key,
    verify_token,
)
from mlkube.gateway.config import (
    DeploymentRoute,
    GatewayConfig,
    dump_gateway_config,
    load_gateway_config,
)

__all__ = [
    "DEFAULT_TOKEN_TTL",
    "DeploymentRoute",
    "EndpointKeys",
    "GatewayConfig",
    "dump_endpoint_keys",
    "dump_gateway_config",
    "generate_keys",
    "issue_token",
    "load_endpoint_keys",
    "load_gateway_config",
    "regenerate_key",
    "verify_token",
]
