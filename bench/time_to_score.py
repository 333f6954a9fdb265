"""Seconds from ``online_deployments.begin_create_or_update`` to the first successful
score through the endpoint (gateway, key, ``/score``): the figure BENCHMARKS.md reports.

Not a test: ``.venv/bin/python -m bench.time_to_score --target local|docker``. It trains
the iris model, creates two endpoints in a fresh workspace and times:
``blue`` no-code on the first (cold when the environment was never built here, or with
``--cold``), the
seed's ``score.py`` beside it (environment warm, model and code new), ``blue`` on the
second endpoint (environment cached: the figure users see most), and replacing that
running ``blue`` with a changed one (a new instance takes over from the old).
Everything it starts is deleted at the end.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from tests import models
from tests.endpoints.conftest import no_code_deployment, seed_script_deployment
from tests.endpoints.scoring import score
from tests.models import SEED_SCORE_PY

from mlkube.entities.online_endpoint import ManagedOnlineEndpoint
from mlkube.operations.client import MLClient

DEADLINE_S = 1800.0


def time_to_first_score(client: MLClient, deployment: object, *, endpoint: str) -> float:
    """Seconds from create-or-update until the deployment answers 200 through the
    endpoint. A replacement counts when the call returns: until then the old instance
    answers, and the call returns once the new one serves."""
    started = time.monotonic()
    client.online_deployments.begin_create_or_update(deployment, progress=None).result()
    uri = client.online_endpoints.get(endpoint).scoring_uri
    key = client.online_endpoints.get_keys(endpoint).primary_key
    name = deployment.name  # type: ignore[attr-defined]
    with httpx.Client(timeout=30, trust_env=False) as http:
        while time.monotonic() - started < DEADLINE_S:
            if score(http, uri, key, deployment=name).status_code == 200:
                return time.monotonic() - started
            time.sleep(0.02)
    raise AssertionError(f"{name} never answered within {DEADLINE_S}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=["local", "docker"], default="local")
    parser.add_argument("--cold", action="store_true",
                        help="make the first deployment's environment one nothing has built: "
                        "its requirements get a marker no other run has (same packages)")
    args = parser.parse_args()
    compute = None if args.target == "local" else "docker"
    scratch = Path(tempfile.mkdtemp(prefix=f"mlkube-{args.target}-timing-"))
    try:
        model_root = scratch / "iris"
        models.train_iris_lightgbm(model_root)
        first_model = model_root
        if args.cold:
            first_model = scratch / "iris-cold"
            shutil.copytree(model_root, first_model)
            requirements = first_model / "model" / "requirements.txt"
            # Always true, never seen before: the same packages in a layer never built.
            requirements.write_text(requirements.read_text().rstrip("\n") + "\n"
                                    f'six; platform_release != "cold-{uuid.uuid4().hex}"\n')
        code = scratch / "code"
        code.mkdir()
        shutil.copy(SEED_SCORE_PY, code / "score.py")
        client = MLClient(workspace=scratch / "workspace")
        endpoints = client.online_endpoints
        for name in ("timing-a", "timing-b"):
            endpoints.begin_create_or_update(
                ManagedOnlineEndpoint(name=name, compute=compute), progress=None).result()
        try:
            runs = [
                ("no-code, environment as found (cold if never built)", "timing-a",
                 no_code_deployment("blue", "timing-a", first_model)),
                ("seed score.py, environment warm", "timing-a",
                 seed_script_deployment("seed", "timing-a", model_root, code)),
                ("no-code, environment cached, new endpoint", "timing-b",
                 no_code_deployment("blue", "timing-b", model_root)),
                ("replacing the running no-code deployment", "timing-b",
                 no_code_deployment("blue", "timing-b", model_root,
                                    environment_variables={"TIMING_REPLACED": "1"})),
            ]
            for label, endpoint, deployment in runs:
                seconds = time_to_first_score(client, deployment, endpoint=endpoint)
                print(f"{args.target}: {label}: {seconds:.2f} s", flush=True)
        finally:
            for name in ("timing-a", "timing-b"):
                endpoints.begin_delete(name, progress=None).result()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
