"""``create_app``: the studio's routes, behind its session check.

Pages (``pages.py``) are rendered on the server; the JSON routes (``api.py``) are what
the pages' scripts poll and post to. Handlers are plain functions, which Starlette runs
in its thread pool: the operations they call block (MLflow, Docker, Kubernetes).
An ``MlkubeError`` becomes its status with message and hint: JSON under ``/api/``, an
error page elsewhere.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlkube.errors import MlkubeError
from mlkube.studio import api, pages
from mlkube.studio.auth import Sessions, StudioAuthMiddleware
from mlkube.studio.metrics import EndpointMetrics
from mlkube.studio.tasks import Tasks

PACKAGE_DIR = Path(__file__).resolve().parent
access_log = logging.getLogger("mlkube.studio.access")


def routes() -> list[BaseRoute]:
    return [
        Route("/", pages.home),
        Route("/models", pages.models),
        Route("/models/{name}", pages.model),
        Route("/models/{name}/{version}/download", pages.model_download),
        Route("/jobs", pages.jobs),
        Route("/jobs/{name}", pages.job),
        Route("/endpoints", pages.endpoints),
        Route("/endpoints/{name}", pages.endpoint),
        Route("/endpoints/{name}/test", pages.endpoint_test),
        Route("/deploy", pages.deploy),
        Route("/api/models", api.register_model, methods=["POST"]),
        Route("/api/models/{name}/{version}/doctor", api.model_doctor),
        Route("/api/jobs/{name}", api.job),
        Route("/api/jobs/{name}/log", api.job_log),
        Route("/api/endpoints", api.endpoints),
        Route("/api/endpoints/{name}", api.endpoint),
        Route("/api/endpoints/{name}", api.delete_endpoint, methods=["DELETE"]),
        Route("/api/endpoints/{name}/metrics", api.endpoint_metrics),
        Route("/api/endpoints/{name}/traffic", api.set_traffic, methods=["POST"]),
        Route("/api/endpoints/{name}/invoke", api.invoke, methods=["POST"]),
        Route("/api/endpoints/{name}/keys/reveal", api.reveal_keys, methods=["POST"]),
        Route("/api/endpoints/{name}/keys/regenerate", api.regenerate_key,
              methods=["POST"]),
        Route("/api/endpoints/{name}/deployments/{deployment}/logs", api.deployment_logs),
        Route("/api/endpoints/{name}/deployments/{deployment}", api.delete_deployment,
              methods=["DELETE"]),
        Route("/api/deploy", api.deploy, methods=["POST"]),
        Route("/api/tasks/{task_id}", api.task),
        Route("/api/tasks/{task_id}/events", api.task_events),
        Mount("/static", app=StaticFiles(directory=PACKAGE_DIR / "static"), name="static"),
    ]


def create_app(ml_client: Any, sessions: Sessions) -> ASGIApp:
    """The studio for ``ml_client``'s workspace; only ``sessions``' token gets in."""
    app = Starlette(routes=routes(), exception_handlers={MlkubeError: _error})
    templates = Jinja2Templates(directory=str(PACKAGE_DIR / "templates"))
    templates.env.globals["workspace_name"] = ml_client.workspace_name
    app.state.ml_client = ml_client
    app.state.templates = templates
    app.state.tasks = Tasks()
    app.state.metrics = EndpointMetrics()
    return AccessLog(StudioAuthMiddleware(app, sessions))


def _error(request: Request, error: Exception) -> Response:
    assert isinstance(error, MlkubeError)
    if request.url.path.startswith("/api/"):
        return Response(orjson.dumps({"error": error.message, "message": error.message,
                                      "hint": error.hint or ""}),
                        status_code=error.http_status, media_type="application/json")
    return pages.error_page(request, error)


class AccessLog:
    """One line per request with the path only: a query (``?token=``) is never logged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            access_log.info("%s %s %s %.0fms", scope["method"], scope["path"], status[0],
                            (time.perf_counter() - started) * 1000)
