"""The JSON routes the studio's pages poll and post to, each one operations call.

Reads return what the page shows (``views.py``); changes take JSON bodies and answer
JSON. Long operations (deploy, delete) start a task (``tasks.py``) whose progress the
page follows as Server-Sent Events. Keys leave the server only as the answer to
``POST .../keys/reveal``, which the page sends when the user clicks Reveal.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mlkube.entities.endpoint_auth import EndpointAuthToken
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import OnlineDeployment
from mlkube.entities.online_endpoint import READ_ONLY_FIELDS, OnlineEndpoint
from mlkube.errors import ResourceNotFoundError, ValidationError
from mlkube.studio import views
from mlkube.studio.pages import endpoint_detail
from mlkube.studio.tasks import Progress

#: Log lines a tail shows.
LOG_LINES = 200
#: How long an events stream waits for a line before sending a keep-alive comment.
EVENTS_KEEPALIVE_S = 10.0


def _json(data: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status_code,
                    media_type="application/json")


def _client(request: Request) -> Any:
    return request.app.state.ml_client


def with_body(handler: Callable[[Request, dict[str, Any]], Response]
              ) -> Callable[[Request], Awaitable[Response]]:
    """An async route that reads the JSON object body on the event loop, then runs
    ``handler(request, body)`` in the thread pool (the operations block)."""

    @functools.wraps(handler)
    async def route(request: Request) -> Response:
        try:
            data = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise ValidationError("The request body is not a JSON object.",
                                  hint="Send the studio page's own form.")
        return await run_in_threadpool(handler, request, data)

    return route


# --- models ---------------------------------------------------------------------------------


@with_body
def register_model(request: Request, data: dict[str, Any]) -> Response:
    model = Model.from_dict({"name": data.get("name"), "path": data.get("path"),
                             "type": data.get("type") or "mlflow_model",
                             "description": data.get("description") or None},
                            source="the register form")
    if not model.name:
        raise ValidationError("The model needs a name.", hint="Fill in Name.")
    registered = _client(request).models.create_or_update(model)
    return _json({"name": registered.name, "version": registered.version,
                  "url": f"/models/{registered.name}?version={registered.version}"})


def model_doctor(request: Request) -> Response:
    """``mlkube doctor``'s findings for the version's files (fetched as download does)."""
    from mlkube.doctor.diagnose import check_model_folder

    name, version = request.path_params["name"], request.path_params["version"]
    folder = Path(tempfile.mkdtemp(prefix="mlkube-studio-doctor-"))
    try:
        downloaded = _client(request).models.download(name, version=version,
                                                       download_path=folder)
        findings = check_model_folder(downloaded)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return _json({"findings": [{"severity": f.severity, "code": f.code,
                                "message": f.message, "fix": f.fix} for f in findings]})


# --- jobs -----------------------------------------------------------------------------------


def job(request: Request) -> Response:
    found = _client(request).jobs.get(request.path_params["name"])
    context = found.creation_context or {}
    return _json({"name": found.name, "status": found.status, "error": found.error,
                  "duration": views.duration_text(context.get("created_at"),
                                                  context.get("ended_at") or None)})


def job_log(request: Request) -> Response:
    """The job's log from byte ``offset`` on (at most 256 KiB at a time)."""
    path = _client(request).jobs.log_path(request.path_params["name"])
    offset = max(int(request.query_params.get("offset", "0") or 0), 0)
    if not path.is_file():
        return _json({"text": "", "offset": offset})
    with open(path, "rb") as log:
        log.seek(offset)
        chunk = log.read(256 * 1024)
    return _json({"text": chunk.decode(errors="replace"), "offset": offset + len(chunk)})


# --- endpoints ------------------------------------------------------------------------------


def endpoints(request: Request) -> Response:
    return _json([views.endpoint_view(e) for e in _client(request).online_endpoints.list()])


def endpoint(request: Request) -> Response:
    return _json(endpoint_detail(_client(request), request.path_params["name"]))


def endpoint_metrics(request: Request) -> Response:
    name = request.path_params["name"]
    found = _client(request).online_endpoints.get(name)
    if not found.scoring_uri:
        return _json({"points": [], "error": "The endpoint has no scoring URI yet."})
    return _json(request.app.state.metrics.sample(name, views.metrics_url(found.scoring_uri)))


def deployment_logs(request: Request) -> Response:
    lines = int(request.query_params.get("lines", LOG_LINES) or LOG_LINES)
    container = request.query_params.get("container") or "inference-server"
    text = _client(request).online_deployments.get_logs(
        request.path_params["deployment"], request.path_params["name"], lines=lines,
        container_type=container)
    return _json({"text": text})


@with_body
def set_traffic(request: Request, data: dict[str, Any]) -> Response:
    """Set traffic and mirror traffic (the entity refuses totals other than 0 or 100)."""
    ml_client = _client(request)
    found = ml_client.online_endpoints.get(request.path_params["name"])
    spec = {k: v for k, v in found.to_dict().items() if k not in READ_ONLY_FIELDS}
    spec["traffic"] = data.get("traffic", found.traffic)
    spec["mirror_traffic"] = data.get("mirror_traffic", found.mirror_traffic)
    updated = OnlineEndpoint.from_dict(spec, source="the traffic editor")
    ml_client.online_endpoints.begin_create_or_update(updated, progress=None).result()
    return _json(endpoint_detail(ml_client, found.name))


@with_body
def invoke(request: Request, data: dict[str, Any]) -> Response:
    """Send the Test page's body; answer its status, latency, deployment and response."""
    body = str(data.get("body") or "")
    started = time.perf_counter()
    response = _client(request).online_endpoints.send_request(
        request.path_params["name"], body.encode(),
        content_type=str(data.get("content_type") or "application/json"),
        deployment_name=data.get("deployment") or None)
    latency_ms = (time.perf_counter() - started) * 1000
    return _json({"status": response.status_code, "latency_ms": round(latency_ms, 1),
                  "deployment": response.headers.get("azureml-model-deployment", ""),
                  "content_type": response.headers.get("content-type", ""),
                  "body": response.text})


def reveal_keys(request: Request) -> Response:
    credential = _client(request).online_endpoints.get_keys(request.path_params["name"])
    if isinstance(credential, EndpointAuthToken):
        return _json({"access_token": credential.access_token,
                      "expiry_time_utc": credential.expiry_time_utc})
    return _json({"primary_key": credential.primary_key,
                  "secondary_key": credential.secondary_key})


@with_body
def regenerate_key(request: Request, data: dict[str, Any]) -> Response:
    key_type = str(data.get("key_type") or "")
    _client(request).online_endpoints.begin_regenerate_keys(
        request.path_params["name"], key_type=key_type, progress=None).result()
    return _json({"regenerated": key_type})


def delete_endpoint(request: Request) -> Response:
    name = request.path_params["name"]
    operations = _client(request).online_endpoints
    operations.get(name)  # a missing endpoint is 404 now, not a failed task

    def operation(report: Progress) -> dict[str, Any]:
        operations.begin_delete(name, progress=report).result()
        return {"url": "/endpoints"}

    return _task(request, f"delete endpoint {name}", operation)


def delete_deployment(request: Request) -> Response:
    name, deployment = request.path_params["name"], request.path_params["deployment"]
    operations = _client(request).online_deployments
    operations.get(deployment, name)

    def operation(report: Progress) -> dict[str, Any]:
        operations.begin_delete(deployment, name, progress=report).result()
        return {"url": f"/endpoints/{name}"}

    return _task(request, f"delete deployment {deployment} of {name}", operation)


# --- deploy ---------------------------------------------------------------------------------


@with_body
def deploy(request: Request, data: dict[str, Any]) -> Response:
    """Create (or add to) an endpoint a no-code deployment of a registered model version.

    The specs are validated here (a 400 with the cause before anything starts); the
    endpoint, the deployment and the traffic change then run as one task."""
    ml_client = _client(request)
    endpoint_name = str(data.get("endpoint_name") or "")
    try:
        existing: OnlineEndpoint | None = ml_client.online_endpoints.get(endpoint_name)
    except ResourceNotFoundError:
        existing = None
    except ValidationError:
        existing = None
    compute = existing.compute if existing is not None else (data.get("compute") or "local")
    new_endpoint = None
    if existing is None:
        new_endpoint = OnlineEndpoint.from_dict(
            {"name": endpoint_name, "compute": compute,
             "auth_mode": data.get("auth_mode") or "key"}, source="the deploy form")
    kubernetes = compute not in (None, "local", "docker")
    deployment = OnlineDeployment.from_dict(
        {"name": data.get("deployment_name") or "blue", "endpoint_name": endpoint_name,
         "model": data.get("model") or "", "instance_count": data.get("instance_count") or 1,
         **({"type": "kubernetes"} if kubernetes else {})}, source="the deploy form")
    if not deployment.model:
        raise ValidationError("Choose the model version to deploy.",
                              hint="Register one on the Models page first.")
    all_traffic = data.get("traffic") == "all"

    def operation(report: Progress) -> dict[str, Any]:
        endpoints = ml_client.online_endpoints
        if new_endpoint is not None:
            report(f"creating endpoint {endpoint_name} on {compute}")
            endpoints.begin_create_or_update(new_endpoint, progress=report).result()
        ml_client.online_deployments.begin_create_or_update(
            deployment, progress=report).result()
        if all_traffic:
            report(f"sending all traffic to {deployment.name}")
            current = endpoints.get(endpoint_name)
            current.traffic = {deployment.name: 100}
            endpoints.begin_create_or_update(current, progress=report).result()
        report(f"deployment {deployment.name} of {endpoint_name} is ready")
        return {"url": f"/endpoints/{endpoint_name}"}

    return _task(request, f"deploy {deployment.name} to {endpoint_name}", operation)


# --- tasks ----------------------------------------------------------------------------------


def _task(request: Request, description: str, operation: Any) -> Response:
    started = request.app.state.tasks.start(description, operation)
    return _json({"task": started.id, "events": f"/api/tasks/{started.id}/events"},
                 status_code=202)


def _found_task(request: Request) -> Any:
    found = request.app.state.tasks.get(request.path_params["task_id"])
    if found is None:
        raise ResourceNotFoundError("No such task in this studio.",
                                    hint="Tasks are kept while the studio runs; start "
                                    "the operation again.")
    return found


def task(request: Request) -> Response:
    return _json(_found_task(request).to_dict())


async def task_events(request: Request) -> Response:
    """Server-Sent Events: one ``line`` event per progress line, then ``end`` with the
    task's state, error and hint."""
    found = _found_task(request)

    async def events() -> AsyncIterator[bytes]:
        seen = 0
        while True:
            await asyncio.to_thread(found.wait_past, seen, EVENTS_KEEPALIVE_S)
            snapshot = found.to_dict(since=seen)
            for line in snapshot["lines"]:
                yield b"event: line\ndata: " + orjson.dumps(line) + b"\n\n"
            seen = snapshot["line_count"]
            if snapshot["state"] != "Running":
                snapshot.pop("lines")
                yield b"event: end\ndata: " + orjson.dumps(snapshot) + b"\n\n"
                return
            if not snapshot["lines"]:
                yield b": keep-alive\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})
