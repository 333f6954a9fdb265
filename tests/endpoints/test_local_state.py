"""What a local endpoint's records imply, computed without starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlkube.entities.deployment_settings import ProbeSettings
from mlkube.errors import ValidationError
from mlkube.gateway.config import dump_gateway_config
from mlkube.targets.base import Target
from mlkube.targets.local.process_runner import ProcessRunner
from mlkube.targets.local.readiness import (
    ProbeOutcome,
    classify_readiness,
)
from mlkube.targets.local.state import (
    DeploymentRecord,
    EndpointFolder,
    Instance,
    render_gateway_config,
    render_programs,
)
from mlkube.targets.local.target import MachineTarget

ENDPOINT = {"spec": {"name": "iris", "auth_mode": "key", "traffic": {"blue": 90, "green": 10},
                     "mirror_traffic": {"green": 20}}, "port": 8123}


def _record(name: str, **fields: object) -> DeploymentRecord:
    return DeploymentRecord(name=name, spec={"request_settings": {"request_timeout_ms": 900}},
                            **fields)  # type: ignore[arg-type]


def _instance(program: str, port: int, generation: str = "1") -> Instance:
    return Instance(program, port, argv=("/venv/bin/python", "-m", "mlkube.cli.main", "serve"),
                    env={"GENERATION": generation})


def test_gateway_routes_to_serving_instances_only_with_request_settings() -> None:
    records = {
        "blue": _record("blue", state="Updating", instances=(_instance("blue-1-0", 5001, "1"),),
                        pending=(_instance("blue-2-0", 5002, "2"),)),
        "green": _record("green", state="Succeeded",
                         instances=(_instance("green-1-0", 5003, "1"),)),
    }
    config = render_gateway_config(ENDPOINT, records)
    assert config.deployments["blue"].instances == ("http://127.0.0.1:5001",)  # not pending
    assert config.deployments["blue"].state == "Succeeded"
    assert config.deployments["blue"].request_timeout_ms == 900
    assert dict(config.traffic) == {"blue": 90, "green": 10}
    assert dict(config.mirror_traffic) == {"green": 20}
    dump_gateway_config(config)  # the gateway accepts it


def test_failed_deployment_without_instances_tells_the_gateway_why() -> None:
    records = {"blue": _record("blue", state="Failed", reason="init() raised KeyError: 'x'"),
               "green": _record("green", state="Succeeded",
                                instances=(_instance("green-1-0", 5003, "1"),))}
    config = render_gateway_config(ENDPOINT, records)
    assert config.deployments["blue"].state == "Failed"
    assert config.deployments["blue"].reason == "init() raised KeyError: 'x'"
    assert config.deployments["blue"].instances == ()


def test_deleting_deployment_leaves_the_gateway_before_its_processes_stop() -> None:
    records = {"blue": _record("blue", state="Deleting",
                               instances=(_instance("blue-1-0", 5001, "1"),))}
    config = render_gateway_config({"spec": {"name": "iris"}, "port": 1}, records)
    assert "blue" not in config.deployments
    programs = render_programs(EndpointFolder(Path("/state/iris")), {"port": 1}, records)
    assert "blue-1-0" in programs


def test_programs_run_gateway_and_every_instance_on_loopback() -> None:
    records = {"blue": _record("blue", instances=(_instance("blue-1-0", 5001, "1"),),
                               pending=(_instance("blue-2-0", 5002, "2"),),
                               draining=(_instance("blue-0-0", 5000, "0"),))}
    programs = render_programs(EndpointFolder(Path("/state/iris")), ENDPOINT, records)
    assert set(programs) == {"gateway", "blue-1-0", "blue-2-0", "blue-0-0"}
    assert programs["blue-2-0"].argv[-4:] == ["--port", "5002", "--host", "127.0.0.1"]
    assert programs["blue-2-0"].log == Path("/state/iris/logs/blue/blue-2-0.log")
    # Each generation keeps its own command: starting generation 2 leaves 1 untouched.
    assert programs["blue-1-0"].env == {"GENERATION": "1"}
    assert programs["blue-2-0"].env == {"GENERATION": "2"}
    gateway = programs["gateway"].argv
    assert gateway[gateway.index("--port") + 1] == "8123"
    assert gateway[gateway.index("--host") + 1] == "127.0.0.1"


def test_readiness_answers_tell_loading_from_failed() -> None:
    assert classify_readiness(200, b"Ready") == ProbeOutcome("ready")
    loading = b'{"message": "The model is still loading.", "error_code": "MODEL_NOT_READY"}'
    assert classify_readiness(503, loading).kind == "loading"
    failed = b'{"message": "init() of score.py raised RuntimeError: no weights"}'
    outcome = classify_readiness(503, failed)
    assert outcome.kind == "failed" and "no weights" in (outcome.cause or "")


def test_probe_budget_is_initial_delay_plus_period_times_failure_threshold() -> None:
    assert ProbeSettings().budget_seconds == 10 + 10 * 30
    assert ProbeSettings(initial_delay=1, period=2, failure_threshold=3).budget_seconds == 7


def test_local_target_implements_the_target_protocol(tmp_path: Path) -> None:
    target = MachineTarget(tmp_path, ProcessRunner())
    assert isinstance(target, Target)
    assert target.kind == "local"
    assert target.list_endpoints() == []


def test_names_that_are_not_endpoint_or_deployment_names_never_reach_the_disk(
    tmp_path: Path,
) -> None:
    target = MachineTarget(tmp_path, ProcessRunner())
    with pytest.raises(ValidationError):
        target.get_endpoint("../etc")
    with pytest.raises(ValidationError):
        EndpointFolder(tmp_path / "iris").deployment_logs_dir("../../x")
