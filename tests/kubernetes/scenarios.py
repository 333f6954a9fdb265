"""The endpoints the golden tests render: each a set of Azure ML v2 YAML files plus flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlkube.entities.online_deployment import OnlineDeployment, load_online_deployment
from mlkube.entities.online_endpoint import OnlineEndpoint, load_online_endpoint
from mlkube.gateway.auth import EndpointKeys
from mlkube.targets.kubernetes.gateway_manifests import IngressSettings
from mlkube.targets.kubernetes.render import render_manifests

SPECS = Path(__file__).parent / "specs"
GOLDEN = Path(__file__).parent / "golden"

#: Fixed, obviously fake keys, so a golden Secret is stable and harmless to commit.
FAKE_KEYS = EndpointKeys(primary_key="primary-key-for-golden-tests",
                         secondary_key="secondary-key-for-golden-tests",
                         token_signing_key="signing-key-for-golden-tests")


@dataclass(frozen=True)
class Scenario:
    name: str
    endpoint: str
    deployments: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)

    def load(self) -> tuple[OnlineEndpoint, list[OnlineDeployment]]:
        endpoint = load_online_endpoint(SPECS / self.endpoint)
        return endpoint, [load_online_deployment(SPECS / d) for d in self.deployments]

    def render(self) -> list[dict[str, Any]]:
        endpoint, deployments = self.load()
        return render_manifests(endpoint, deployments, **self.options)


SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        Scenario("mlflow-no-code", "iris-endpoint.yml", ("mlflow-deployment.yml",)),
        Scenario("score-py", "seed-endpoint.yml", ("score-py-deployment.yml",),
                 {"namespace": "ml-serving", "registry": "registry.example.com/team",
                  "keys": FAKE_KEYS}),
        Scenario("gpu", "gpu-endpoint.yml", ("gpu-deployment.yml",),
                 {"images": {"gpu": "registry.example.com/vision-gpu@sha256:" + "ab" * 32},
                  "gateway_image": "registry.example.com/mlkube-gateway:0.1.0"}),
        Scenario("target-utilization", "autoscale-endpoint.yml", ("autoscale-deployment.yml",),
                 {"service_type": "NodePort", "node_port": 30080, "gateway_replicas": 1}),
        Scenario("scale-to-zero", "autoscale-endpoint.yml",
                 ("autoscale-deployment.yml", "scale-to-zero-deployment.yml")),
        Scenario("instance-types", "sized-endpoint.yml",
                 ("sized-cpu-deployment.yml", "sized-gpu-deployment.yml"),
                 {"registry": "registry.example.com/team"}),
        Scenario("canary-with-mirror", "canary-endpoint.yml",
                 ("blue-deployment.yml", "green-deployment.yml"),
                 {"service_type": "LoadBalancer", "keys": FAKE_KEYS,
                  "ingress": IngressSettings(host="iris.example.com", tls_secret="iris-tls",
                                             class_name="nginx")}),
    )
}
