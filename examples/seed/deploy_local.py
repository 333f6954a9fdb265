"""Deploy the seed's model to a local online endpoint, Azure ML style, and score it.

Written as the seed's Azure ML SDK v2 script was; only the imports differ (they were
``from azure.ai.ml import MLClient``, ``from azure.ai.ml.entities import ...`` and
``from azure.identity import DefaultAzureCredential``). Run it beside score.py,
conda.yaml and sample-request.json:

    python deploy_local.py --model-path ./model

``--model-path`` is the MLflow model folder (the seed's train.py logs it as ``model``);
the endpoint is deleted at the end unless ``--keep`` is given.
"""

import argparse
import datetime
import os

from mlkube import DefaultAzureCredential, MLClient
from mlkube.entities import (
    CodeConfiguration,
    Environment,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    Model,
)

HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser()
parser.add_argument("--model-path", default=os.path.join(HERE, "model"))
parser.add_argument("--keep", action="store_true", help="Keep the endpoint running.")
args = parser.parse_args()

ml_client = MLClient(
    DefaultAzureCredential(),
    subscription_id="<SUBSCRIPTION_ID>",
    resource_group_name="<RESOURCE_GROUP>",
    workspace_name="seed-workspace",
)

# A name unique per run, as Azure ML's samples make one.
local_endpoint_name = "local-" + datetime.datetime.now().strftime("%m%d%H%M%f")

endpoint = ManagedOnlineEndpoint(
    name=local_endpoint_name,
    description="The seed's LightGBM iris model, locally",
    auth_mode="key",
)
ml_client.online_endpoints.begin_create_or_update(endpoint, local=True).result()

model = Model(path=args.model_path)
env = Environment(
    conda_file=os.path.join(HERE, "conda.yaml"),
    image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest",
)
blue_deployment = ManagedOnlineDeployment(
    name="blue",
    endpoint_name=local_endpoint_name,
    model=model,
    environment=env,
    code_configuration=CodeConfiguration(code=HERE, scoring_script="score.py"),
    instance_type="Standard_DS3_v2",
    instance_count=1,
)
ml_client.online_deployments.begin_create_or_update(deployment=blue_deployment,
                                                    local=True).result()

endpoint = ml_client.online_endpoints.get(name=local_endpoint_name, local=True)
print("Scoring URI:", endpoint.scoring_uri)

response = ml_client.online_endpoints.invoke(
    endpoint_name=local_endpoint_name,
    request_file=os.path.join(HERE, "sample-request.json"),
    local=True,
)
print("Response:", response)

logs = ml_client.online_deployments.get_logs(
    name="blue", endpoint_name=local_endpoint_name, local=True, lines=5)
print("Last log lines:\n" + logs)

if not args.keep:
    ml_client.online_endpoints.begin_delete(name=local_endpoint_name, local=True).result()
    print("Deleted", local_endpoint_name)
