"""Deploy the seed's model to an attached Kubernetes cluster, Azure ML style, and score it.

Written as the seed's Azure ML SDK v2 script for Kubernetes online endpoints was; only
the imports differ (they were ``from azure.ai.ml import MLClient``,
``from azure.ai.ml.entities import ...`` and ``from azure.identity import
DefaultAzureCredential``). Where Azure ML needed the cluster attached in the portal with
its extension installed, mlkube needs, once:

    mlkube compute attach --name k8s-compute --kubeconfig ~/.kube/config \\
        --namespace mlkube --registry REGISTRY_HOST/PATH
    mlkube compute check k8s-compute
    mlkube cluster install --compute k8s-compute

Then, beside score.py, conda.yaml and sample-request.json:

    python deploy_kubernetes.py --model-path ./model

The endpoint is deleted at the end unless ``--keep`` is given.
"""

import argparse
import datetime
import os

from mlkube import DefaultAzureCredential, MLClient
from mlkube.entities import (
    CodeConfiguration,
    Environment,
    KubernetesOnlineDeployment,
    KubernetesOnlineEndpoint,
    Model,
    ResourceRequirementsSettings,
    ResourceSettings,
)

HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser()
parser.add_argument("--model-path", default=os.path.join(HERE, "model"))
parser.add_argument("--compute", default="k8s-compute")
parser.add_argument("--keep", action="store_true", help="Keep the endpoint running.")
args = parser.parse_args()

ml_client = MLClient(
    DefaultAzureCredential(),
    subscription_id="<SUBSCRIPTION_ID>",
    resource_group_name="<RESOURCE_GROUP>",
    workspace_name="seed-workspace",
)

# A name unique per run, as Azure ML's samples make one.
online_endpoint_name = "k8s-" + datetime.datetime.now().strftime("%m%d%H%M%f")

endpoint = KubernetesOnlineEndpoint(
    name=online_endpoint_name,
    compute=args.compute,
    description="The seed's LightGBM iris model, on Kubernetes",
    auth_mode="key",
)
ml_client.online_endpoints.begin_create_or_update(endpoint).result()

model = Model(path=args.model_path)
env = Environment(
    conda_file=os.path.join(HERE, "conda.yaml"),
    image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest",
)
blue_deployment = KubernetesOnlineDeployment(
    name="blue",
    endpoint_name=online_endpoint_name,
    model=model,
    environment=env,
    code_configuration=CodeConfiguration(code=HERE, scoring_script="score.py"),
    instance_count=1,
    resources=ResourceRequirementsSettings(
        requests=ResourceSettings(cpu="100m", memory="0.5Gi"),
        limits=ResourceSettings(cpu="1", memory="1Gi"),
    ),
)
ml_client.online_deployments.begin_create_or_update(blue_deployment).result()

# Send all traffic to blue, as the seed did.
endpoint.traffic = {"blue": 100}
ml_client.online_endpoints.begin_create_or_update(endpoint).result()

endpoint = ml_client.online_endpoints.get(name=online_endpoint_name)
print("Scoring URI:", endpoint.scoring_uri)

response = ml_client.online_endpoints.invoke(
    endpoint_name=online_endpoint_name,
    deployment_name="blue",
    request_file=os.path.join(HERE, "sample-request.json"),
)
print("Response:", response)

logs = ml_client.online_deployments.get_logs(
    name="blue", endpoint_name=online_endpoint_name, lines=5)
print("Last log lines:\n" + logs)

if not args.keep:
    ml_client.online_endpoints.begin_delete(name=online_endpoint_name).result()
    print("Deleted", online_endpoint_name)
