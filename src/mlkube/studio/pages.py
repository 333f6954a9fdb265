"""The studio's HTML pages, rendered on the server from what the operations return.

Each handler reads through ``MLClient`` (``request.app.state.ml_client``) and hands a
template plain dicts from ``views.py``; the live parts (state, logs, charts, progress)
are then refreshed by the page's script from the JSON routes in ``api.py``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from mlkube.errors import MlkubeError, ResourceNotFoundError
from mlkube.studio import views


def _client(request: Request) -> Any:
    return request.app.state.ml_client


def _render(request: Request, template: str, status_code: int = 200,
            **context: Any) -> Response:
    context.setdefault("section", template.split("_")[0].removesuffix(".html"))
    return request.app.state.templates.TemplateResponse(
        request, template, {"csrf_token": request.state.csrf_token, **context},
        status_code=status_code)


def error_page(request: Request, error: MlkubeError) -> Response:
    return _render(request, "error.html", status_code=error.http_status, section="",
                   message=error.message, hint=error.hint or "")


def home(request: Request) -> Response:
    return RedirectResponse("/endpoints", status_code=303)


# --- models ---------------------------------------------------------------------------------


def models(request: Request) -> Response:
    ml_client = _client(request)
    rows = [{"name": m.name, "version": m.version, "type": m.type, "job": m.job_name or "",
             "created": (m.creation_context or {}).get("created_at", "")[:19],
             "description": m.description or ""} for m in ml_client.models.list()]
    return _render(request, "models.html", models=rows)


def model(request: Request) -> Response:
    ml_client = _client(request)
    name = request.path_params["name"]
    versions = ml_client.models.list(name)
    wanted = request.query_params.get("version")
    chosen = next((m for m in versions if m.version == wanted), versions[0])
    registry = ml_client.workspace.registry
    record = registry.get(chosen.name, chosen.version)
    aliases_by_version = {v.version: list(registry.get(name, v.version).aliases)
                          for v in versions}
    mlmodel = views.mlmodel_view(registry.read_text(record.source, "MLmodel"))
    example = None
    if mlmodel["input_example_file"]:
        example = registry.read_text(record.source, mlmodel["input_example_file"])
    version_rows = [{"version": v.version, "type": v.type,
                     "created": (v.creation_context or {}).get("created_at", "")[:19],
                     "aliases": aliases_by_version.get(v.version, []),
                     "job": v.job_name or ""} for v in versions]
    return _render(request, "models_detail.html", section="models", name=name,
                   model=chosen, record=record, versions=version_rows, mlmodel=mlmodel,
                   input_example=example or "", tags=chosen.tags,
                   aliases=aliases_by_version.get(chosen.version, []))


def model_download(request: Request) -> Response:
    """The version's files as a zip, fetched by the operations' own download."""
    ml_client = _client(request)
    name, version = request.path_params["name"], request.path_params["version"]
    folder = Path(tempfile.mkdtemp(prefix="mlkube-studio-download-"))
    try:
        downloaded = ml_client.models.download(name, version=version, download_path=folder)
        archive = shutil.make_archive(str(folder / f"{name}-{version}"), "zip",
                                      root_dir=downloaded.parent, base_dir=downloaded.name)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(archive, filename=f"{name}-{version}.zip",
                        media_type="application/zip",
                        background=BackgroundTask(shutil.rmtree, folder, True))


# --- jobs -----------------------------------------------------------------------------------


def _job_row(job: Any) -> dict[str, Any]:
    context = job.creation_context or {}
    return {"name": job.name, "display_name": job.display_name or "",
            "status": job.status or "", "experiment": job.experiment_name or "",
            "compute": job.compute, "created": context.get("created_at", "")[:19],
            "duration": views.duration_text(context.get("created_at"),
                                            context.get("ended_at") or None),
            "error": job.error or "", "exit_code": job.exit_code}


def jobs(request: Request) -> Response:
    rows = [_job_row(job) for job in _client(request).jobs.list()]
    return _render(request, "jobs.html", jobs=rows)


def job(request: Request) -> Response:
    ml_client = _client(request)
    found = ml_client.jobs.get(request.path_params["name"])
    params: dict[str, str] = {}
    metrics: dict[str, float] = {}
    if found.run_id:
        run = ml_client.workspace.runs.get(found.run_id)
        params, metrics = dict(run.params), dict(run.metrics)
    inputs = [{"name": key, "type": getattr(value, "type", ""),
               "path": str(getattr(value, "path", value))}
              for key, value in found.inputs.items()]
    return _render(request, "jobs_detail.html", section="jobs", job=_job_row(found),
                   command=found.command, inputs=inputs, params=params, metrics=metrics,
                   run_id=found.run_id or "")


# --- endpoints ------------------------------------------------------------------------------


def endpoint_detail(ml_client: Any, name: str) -> dict[str, Any]:
    """The endpoint with its deployments, as its page and ``GET /api/endpoints/{name}``
    show it."""
    found = views.endpoint_view(ml_client.online_endpoints.get(name))
    found["deployments"] = [views.deployment_view(d)
                            for d in ml_client.online_deployments.list(name)]
    found["curl"] = views.curl_line(found["scoring_uri"])
    return found


def endpoints(request: Request) -> Response:
    ml_client = _client(request)
    rows = []
    for found in ml_client.online_endpoints.list():
        row = views.endpoint_view(found)
        rows.append(row)
    return _render(request, "endpoints.html", endpoints=rows)


def endpoint(request: Request) -> Response:
    detail = endpoint_detail(_client(request), request.path_params["name"])
    return _render(request, "endpoints_detail.html", section="endpoints", endpoint=detail,
                   key_placeholder=views.KEY_PLACEHOLDER)


def endpoint_test(request: Request) -> Response:
    ml_client = _client(request)
    detail = endpoint_detail(ml_client, request.path_params["name"])
    return _render(request, "endpoints_test.html", section="endpoints", endpoint=detail,
                   body=_example_request(ml_client, detail["deployments"]))


def _example_request(ml_client: Any, deployments: list[dict[str, Any]]) -> str:
    """The first registered model's input example, as a request body."""
    registry = ml_client.workspace.registry
    for deployment in deployments:
        name, _, version = deployment["served_model"].removeprefix("azureml:").partition(":")
        if not version or "@" in name:
            continue
        try:
            record = registry.get(name, version)
        except ResourceNotFoundError:
            continue
        mlmodel = views.mlmodel_view(registry.read_text(record.source, "MLmodel"))
        if mlmodel["input_example_file"]:
            body = views.request_from_example(
                registry.read_text(record.source, mlmodel["input_example_file"]))
            if body:
                return body
    return '{"input_data": {"columns": [], "data": [[]]}}'


# --- deploy ---------------------------------------------------------------------------------


def deploy(request: Request) -> Response:
    ml_client = _client(request)
    model_versions = []
    for latest in ml_client.models.list():
        model_versions += [f"{m.name}:{m.version}" for m in ml_client.models.list(latest.name)]
    computes = ["local", "docker"] + [c.name for c in ml_client.computes.list()
                                      if c.type == "kubernetes"]
    endpoint_names = [e.name for e in ml_client.online_endpoints.list()]
    return _render(request, "deploy.html", model_versions=model_versions,
                   chosen_model=request.query_params.get("model", ""),
                   chosen_endpoint=request.query_params.get("endpoint", ""),
                   computes=computes, endpoint_names=endpoint_names)
