"""Seconds from ``online_deployments.begin_create_or_update`` to the first successful
score on the docker target (the figure BENCHMARKS.md reports).

Not a test: run it by hand, ``.venv/bin/python -m tests.endpoints_docker.measure_time_to_score``.
It trains the iris model, creates a docker endpoint in a fresh workspace and times three
deployments: ``blue`` (no code; cold when the environment's image layer was never built
on this engine), ``seed`` (the seed's score.py: the environment layer is warm, model and
code layers are new) and ``blue`` again on a second endpoint (the image is reused as is).
Everything it starts is deleted at the end.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

from mlkube.entities.online_endpoint import ManagedOnlineEndpoint
from mlkube.operations.client import MLClient
from tests import models
from tests.endpoints.conftest import no_code_deployment, seed_script_deployment
from tests.endpoints.scoring import score
from tests.models import SEED_SCORE_PY

DEADLINE_S = 1800.0


def time_to_first_score(client: MLClient, deployment: object, *, endpoint: str) -> float:
    started = time.monotonic()
    client.online_deployments.begin_create_or_update(deployment, progress=None).result()
    uri = client.online_endpoints.get(endpoint).scoring_uri
    key = client.online_endpoints.get_keys(endpoint).primary_key
    name = deployment.name  # type: ignore[attr-defined]
    with httpx.Client(timeout=30, trust_env=False) as http:
        while time.monotonic() - started < DEADLINE_S:
            if score(http, uri, key, deployment=name).status_code == 200:
                return time.monotonic() - started
            time.sleep(0.05)
    raise AssertionError(f"{name} never answered within {DEADLINE_S}s")


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="mlkube-docker-timing-"))
    try:
        model_root = scratch / "iris"
        models.train_iris_lightgbm(model_root)
        code = scratch / "code"
        code.mkdir()
        shutil.copy(SEED_SCORE_PY, code / "score.py")
        client = MLClient(workspace=scratch / "workspace")
        endpoints = client.online_endpoints
        for name in ("timing-a", "timing-b"):
            endpoints.begin_create_or_update(
                ManagedOnlineEndpoint(name=name, compute="docker"), progress=None).result()
        try:
            runs = [
                ("no-code, environment layer as found (cold if never built)", "timing-a",
                 no_code_deployment("blue", "timing-a", model_root)),
                ("seed score.py, environment layer warm", "timing-a",
                 seed_script_deployment("seed", "timing-a", model_root, code)),
                ("no-code again, image reused", "timing-b",
                 no_code_deployment("blue", "timing-b", model_root)),
            ]
            for label, endpoint, deployment in runs:
                seconds = time_to_first_score(client, deployment, endpoint=endpoint)
                print(f"{label}: {seconds:.1f} s", flush=True)
        finally:
            for name in ("timing-a", "timing-b"):
                endpoints.begin_delete(name, progress=None).result()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
