"""mlkube end to end on the embedded defaults: the README's first command (`make demo`).

1. A command job trains LightGBM on iris with MLflow autolog (the sample's train.py).
2. The model the job logged is registered in the workspace (`.mlkube/` here).
3. A local online endpoint gets a deployment of it with no scoring script.
4. The endpoint is invoked with the seed's request file, then the scoring URI, a key
   and a curl line are printed so you can call it yourself.

Run again and it reuses what exists: the environment cache makes the second deployment
start in seconds. Delete the endpoint with `mlkube online-endpoint delete -n iris-demo`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from mlkube import Input, ManagedOnlineDeployment, ManagedOnlineEndpoint, MLClient, Model, command
from mlkube.constants import AssetTypes

SEED = Path(__file__).resolve().parent / "seed"
REQUEST = Path(__file__).resolve().parent / "yaml" / "sample-request.json"
ENDPOINT = "iris-demo"


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def main() -> None:
    started = time.monotonic()
    ml_client = MLClient()
    print(f"workspace: {ml_client.tracking_uri}")

    step("Training LightGBM on iris as a command job")
    job = ml_client.jobs.create_or_update(
        command(
            code=str(SEED / "training"),
            command="python train.py --iris-csv ${{inputs.iris_csv}}",
            inputs={"iris_csv": Input(type=AssetTypes.URI_FILE,
                                      path=str(SEED / "data" / "iris.csv"))},
            experiment_name="iris-demo",
            display_name="train-lightgbm-iris",
        )
    )
    ml_client.jobs.stream(job.name)

    step("Registering the job's model")
    model = ml_client.models.create_or_update(
        Model(
            name="iris-lightgbm",
            path=f"jobs:/{job.name}/outputs/artifacts/paths/model",
            type=AssetTypes.MLFLOW_MODEL,
        )
    )
    print(f"registered {model.name}:{model.version}")

    step(f"Deploying it to the local endpoint {ENDPOINT!r} (no scoring script)")
    endpoint = ManagedOnlineEndpoint(name=ENDPOINT, auth_mode="key", compute="local")
    ml_client.online_endpoints.begin_create_or_update(endpoint).result()
    deployment = ManagedOnlineDeployment(
        name="blue", endpoint_name=ENDPOINT, model=f"{model.name}:{model.version}",
        instance_count=1,
    )
    ml_client.online_deployments.begin_create_or_update(deployment).result()
    endpoint = ml_client.online_endpoints.get(ENDPOINT)
    endpoint.traffic = {"blue": 100}
    ml_client.online_endpoints.begin_create_or_update(endpoint).result()

    step("Scoring the seed's request file")
    request_file = REQUEST
    print(f"request:  {request_file.read_text().strip()}")
    response = ml_client.online_endpoints.invoke(
        endpoint_name=ENDPOINT, request_file=str(request_file)
    )
    print(f"response: {response}")

    endpoint = ml_client.online_endpoints.get(ENDPOINT)
    key = ml_client.online_endpoints.get_keys(ENDPOINT).primary_key
    step(f"Done in {time.monotonic() - started:.0f} s. Call it yourself:")
    print(f"scoring URI: {endpoint.scoring_uri}")
    print(f"key:         {key}")
    print(
        f"curl -d '{{\"data\": [[1, 2, 3, 4]]}}' -H 'Content-Type: application/json' "
        f"-H 'Authorization: Bearer {key}' {endpoint.scoring_uri}"
    )
    print(f"\nstop it with: mlkube online-endpoint delete --name {ENDPOINT}")


if __name__ == "__main__":
    sys.exit(main())
