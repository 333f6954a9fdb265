"""Elastic deployments for the endpoint tests of every target on this machine: a model
that answers after a fixed 0.2 s (so the load clients make is one the gateway can count),
and reading the instances a deployment runs as ``show`` reports them."""

from __future__ import annotations

from pathlib import Path

from mlkube.entities.code_configuration import CodeConfiguration
from mlkube.entities.deployment_settings import (
    OnlineRequestSettings,
    TargetUtilizationScaleSettings,
)
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import ManagedOnlineDeployment
from mlkube.operations.client import MLClient
from tests.models import SEED_SCORE_PY

SLOW_SCORE_PY = SEED_SCORE_PY.read_text() + '''

import time

_seed_run = run


def run(input_data):
    time.sleep(0.2)
    return _seed_run(input_data)
'''


def slow_code_folder(folder: Path) -> Path:
    """``folder`` holding the slow score.py."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "score.py").write_text(SLOW_SCORE_PY)
    return folder


def slow_deployment(name: str, endpoint: str, model_root: Path, code: Path, *,
                    scale: TargetUtilizationScaleSettings, timeout_ms: int = 30_000,
                    ) -> ManagedOnlineDeployment:
    return ManagedOnlineDeployment(
        name=name, endpoint_name=endpoint, model=Model(path=str(model_root / "model")),
        code_configuration=CodeConfiguration(code=str(code), scoring_script="score.py"),
        request_settings=OnlineRequestSettings(max_concurrent_requests_per_instance=1,
                                               max_queue_wait_ms=10_000,
                                               request_timeout_ms=timeout_ms),
        instance_count=1, scale_settings=scale)


def instances(ml_client: MLClient, endpoint: str, name: str) -> tuple[int, int]:
    shown = ml_client.online_deployments.get(name, endpoint)
    return shown.current_instances or 0, shown.desired_instances or 0


def route(ml_client: MLClient, endpoint: str, deployments: dict[str, int]) -> tuple[str, str]:
    entity = ml_client.online_endpoints.get(endpoint)
    entity.traffic = deployments
    ml_client.online_endpoints.begin_create_or_update(entity).result()
    return entity.scoring_uri or "", ml_client.online_endpoints.get_keys(endpoint).primary_key
