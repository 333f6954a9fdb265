"""How fast mlkube studio answers: time to the printed URL, and the latency of the pages
and JSON routes an endpoint's page loads and polls, over a real local endpoint.

    .venv/bin/python bench/studio_pages.py [--requests 50]

Trains the iris LightGBM model (tests/models.py), registers and deploys it to a local
endpoint in a temporary workspace, starts `mlkube studio --port 0` on it, signs in with
the printed token and times each route with httpx (sequential requests on 127.0.0.1).
Prints a Markdown table for BENCHMARKS.md. Everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.models import train_iris_lightgbm  # noqa: E402

from mlkube import ManagedOnlineDeployment, ManagedOnlineEndpoint, MLClient, Model  # noqa: E402

ENDPOINT = "bench-studio"


def timed(http: httpx.Client, path: str, requests: int) -> tuple[float, float]:
    """(median, p95) milliseconds of ``requests`` GETs of ``path``."""
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = http.get(path, headers={"Accept": "text/html"})
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train_iris_lightgbm(root / "model-root")
        ml_client = MLClient(workspace=root / "ws")
        ml_client.models.create_or_update(Model(
            name="iris", path=str(root / "model-root" / "model"), type="mlflow_model"))
        endpoints = ml_client.online_endpoints
        endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=ENDPOINT),
                                         progress=None).result()
        try:
            ml_client.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
                name="blue", endpoint_name=ENDPOINT, model="iris:1"), progress=None).result()
            started = time.perf_counter()
            studio = subprocess.Popen(
                [sys.executable, "-m", "mlkube.cli.main", "studio", "--port", "0",
                 "--workspace", str(root / "ws")],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                assert studio.stdout is not None
                line = studio.stdout.readline()
                to_url = (time.perf_counter() - started) * 1000
                match = re.match(r"Studio: (http://[^/]+)/\?token=(\S+)", line)
                assert match, line
                with httpx.Client(base_url=match[1], trust_env=False, timeout=60) as http:
                    http.get(f"/?token={match[2]}")
                    first = time.perf_counter()
                    http.get("/api/endpoints").raise_for_status()
                    to_first = (time.perf_counter() - started) * 1000
                    first_call = (time.perf_counter() - first) * 1000
                    rows = [(path, *timed(http, path, args.requests)) for path in (
                        f"/endpoints/{ENDPOINT}", f"/api/endpoints/{ENDPOINT}",
                        f"/api/endpoints/{ENDPOINT}/metrics",
                        f"/api/endpoints/{ENDPOINT}/deployments/blue/logs",
                        "/models", "/models/iris", "/static/vendor/uplot/uPlot.iife.min.js")]
            finally:
                studio.terminate()
                studio.wait(timeout=10)
        finally:
            endpoints.begin_delete(ENDPOINT, progress=None).result()
    print(f"URL printed after {to_url:.0f} ms; first JSON answer {to_first:.0f} ms after "
          f"start (that call {first_call:.0f} ms)\n")
    print(f"| route ({args.requests} sequential GETs) | median ms | p95 ms |")
    print("|---|---|---|")
    for path, median, p95 in rows:
        print(f"| `{path}` | {median:.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
