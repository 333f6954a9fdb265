"""Seconds from moving a model alias to the new version answering clients, for a
deployment with ``follow_model_label`` (the figures of BENCHMARKS.md's "Rollouts that
follow the registry" section). A script, not a test:

    .venv/bin/python -m bench.alias_rollout [--compute local|docker] [--moves 3]

It trains the iris model and two pyfuncs a client can tell apart (one predicts 7 for
every row, the other 8), registers them as versions 1-3 of one model in a fresh
workspace, deploys ``iris@champion`` with ``follow_model_label: true`` and keeps one
client scoring in a loop. Then it moves the alias ``--moves`` times (2, 3, 1, 2, ...) and
times each move until the client's answers come from the new version, and until the
supervised watcher had the new version's instances starting (the deployment's state
leaves Succeeded, after the model is fetched and the environment found). Failed
requests are counted. The first move goes to a model whose environment differs from
the LightGBM one (a pyfunc adds cloudpickle), so it builds that environment; the later
moves alternate between the two pyfuncs (one environment, cached). The server wheel is
built once and pinned, as the tests pin it, so editing the source meanwhile changes
nothing. Everything it creates is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from tests import models
from tests.endpoints.releases import register_releases
from tests.endpoints.scoring import ClientLoop

from mlkube.entities.deployment_settings import OnlineRequestSettings
from mlkube.entities.online_deployment import ManagedOnlineDeployment
from mlkube.entities.online_endpoint import ManagedOnlineEndpoint
from mlkube.environments.server_package import SERVER_WHEEL_VARIABLE, build_server_wheel
from mlkube.operations.client import MLClient

ENDPOINT = "bench-follow"
MODEL = "iris-bench"
DEADLINE_S = 600.0



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compute", choices=("local", "docker"), default="local")
    parser.add_argument("--moves", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault(SERVER_WHEEL_VARIABLE, str(build_server_wheel()))
    work = Path(tempfile.mkdtemp(prefix="bench-follow-"))
    client = MLClient(workspace=work / "ws")
    roots = {}
    for key, build in (("lgbm", models.train_iris_lightgbm),
                       ("seven", lambda d: models.build_constant_iris(d, 7)),
                       ("eight", lambda d: models.build_constant_iris(d, 8))):
        (work / key).mkdir()
        build(work / key)
        roots[key] = work / key
    registry, versions = register_releases(
        client, MODEL, [roots["lgbm"], roots["seven"], roots["eight"]])
    bodies = {versions[1]: "[7]", versions[2]: "[8]"}
    endpoints, deployments = client.online_endpoints, client.online_deployments
    endpoint = endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name=ENDPOINT, compute=args.compute), progress=None).result()
    loop = None
    results = []
    try:
        deployments.begin_create_or_update(ManagedOnlineDeployment(
            name="main", endpoint_name=ENDPOINT, model=f"azureml:{MODEL}@champion",
            follow_model_label=True,
            request_settings=OnlineRequestSettings(max_concurrent_requests_per_instance=4)),
            progress=None).result()
        endpoint.traffic = {"main": 100}
        endpoints.begin_create_or_update(endpoint, progress=None).result()
        loop = ClientLoop(endpoint.scoring_uri or "",
                          endpoints.get_keys(ENDPOINT).primary_key).start()
        while len(loop.bodies) < 20:
            time.sleep(0.1)
        order = [versions[1], versions[2]]
        for move in range(args.moves):
            version = order[move % len(order)]
            failed_before = len(loop.failures)
            moved = time.monotonic()
            registry.set_registered_model_alias(MODEL, "champion", version)
            seen = None
            while True:
                now = time.monotonic()
                if now - moved > DEADLINE_S:
                    raise SystemExit(f"version {version} did not answer in {DEADLINE_S} s")
                if seen is None and deployments.get("main", ENDPOINT).provisioning_state \
                        != "Succeeded":
                    seen = now - moved
                answer = loop.bodies[-1] if loop.bodies else ""
                if answer == bodies[version]:
                    break
                time.sleep(0.05)
            total = time.monotonic() - moved
            # Wait until the deployment settles, so the next move starts from rest.
            while deployments.get("main", ENDPOINT).provisioning_state != "Succeeded":
                time.sleep(0.1)
            result = {"move": move + 1, "version": version, "seen_s": round(seen or 0, 2),
                      "serving_s": round(total, 2),
                      "failed_requests": len(loop.failures) - failed_before}
            print(json.dumps(result), flush=True)
            results.append(result)
        loop.stop()
    finally:
        if loop is not None:
            loop.stop()
        endpoints.begin_delete(ENDPOINT, progress=None).result()
    warm = results[1:] or results
    print(json.dumps({
        "compute": args.compute, "moves": len(results),
        "first_move_serving_s": results[0]["serving_s"],
        "warm_serving_median_s": statistics.median(r["serving_s"] for r in warm),
        "warm_serving_max_s": max(r["serving_s"] for r in warm),
        "warm_seen_median_s": statistics.median(r["seen_s"] for r in warm),
        "failed_requests": sum(r["failed_requests"] for r in results),
        "answers": len(loop.bodies) if loop else 0}), flush=True)


if __name__ == "__main__":
    main()
