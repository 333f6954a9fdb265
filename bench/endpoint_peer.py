"""mlkube through its endpoint, as users reach it: a local endpoint with key auth, one
no-code deployment of the model (one instance), all traffic on it; the client goes to the
gateway with the key, the gateway to the server.

Started by run.py like a server (pinned to the server core, so the supervisor, gateway
and instance it starts share that core, as every peer's processes do):

    .venv/bin/python bench/endpoint_peer.py MODEL_ROOT WORKDIR READY_FILE [MAX_CONCURRENT [batch]]

Once the deployment serves it writes READY_FILE (mode 600: it holds the key), JSON with
``port``, ``path`` and ``headers`` (the Authorization header), then waits. SIGTERM
deletes the endpoint (its supervisor stops gateway and instance) and exits. Without
MAX_CONCURRENT the deployment keeps every default setting
(``max_concurrent_requests_per_instance`` 8; Azure's is 1); with it, that many requests
may be in flight per instance, and with ``batch`` the server micro-batches them
(``MLKUBE_BATCHING=1`` in the deployment's ``environment_variables``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

from mlkube.entities.deployment_settings import OnlineRequestSettings
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import ManagedOnlineDeployment
from mlkube.entities.online_endpoint import ManagedOnlineEndpoint
from mlkube.operations.client import MLClient

ENDPOINT = "bench-peers"
DEPLOYMENT = "blue"


def create(client: MLClient, model_root: Path, max_concurrent: int | None,
           batch: bool) -> None:
    endpoints = client.online_endpoints
    endpoint = ManagedOnlineEndpoint(name=ENDPOINT, auth_mode="key")
    endpoints.begin_create_or_update(endpoint, progress=None).result()
    settings: dict[str, object] = ({} if max_concurrent is None else {
        "request_settings": OnlineRequestSettings(
            max_concurrent_requests_per_instance=max_concurrent)})
    if batch:
        settings["environment_variables"] = {"MLKUBE_BATCHING": "1"}
    deployment = ManagedOnlineDeployment(name=DEPLOYMENT, endpoint_name=ENDPOINT,
                                         model=Model(path=str(model_root / "model")),
                                         instance_count=1, **settings)
    client.online_deployments.begin_create_or_update(deployment, progress=None).result()
    endpoint = endpoints.get(ENDPOINT)
    endpoint.traffic = {DEPLOYMENT: 100}
    endpoints.begin_create_or_update(endpoint, progress=None).result()


def write_ready(client: MLClient, ready_file: Path) -> None:
    uri = urlsplit(client.online_endpoints.get(ENDPOINT).scoring_uri)
    key = client.online_endpoints.get_keys(ENDPOINT).primary_key
    if uri.hostname != "127.0.0.1":
        raise SystemExit(f"the endpoint listens on {uri.hostname}, not 127.0.0.1")
    partial = ready_file.with_suffix(".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"port": uri.port, "path": uri.path,
                   "headers": {"Authorization": f"Bearer {key}"}}, out)
    partial.replace(ready_file)


def main(argv: list[str]) -> None:
    model_root, workdir, ready_file = Path(argv[0]), Path(argv[1]), Path(argv[2])
    max_concurrent = int(argv[3]) if len(argv) > 3 else None
    batch = argv[4:5] == ["batch"]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client = MLClient(workspace=workdir / "workspace")
    try:
        create(client, model_root, max_concurrent, batch)
        write_ready(client, ready_file)
        print(f"endpoint {ENDPOINT} serving", flush=True)
        stop.wait()
    finally:
        ready_file.unlink(missing_ok=True)
        client.online_endpoints.begin_delete(ENDPOINT, progress=None).result()


if __name__ == "__main__":
    main(sys.argv[1:])
