"""The registry watcher's manifest (``mlkube watch-registry --print-manifest``) is a valid
Deployment for old and new Kubernetes, runs one watcher, and takes the workspace and the
kubeconfig from the Secrets named."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from kubernetes_validate import utils as kv

VERSIONS = ("1.28.0", kv.latest_version())


def _printed(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlkube.cli.main", "watch-registry",
                           "--print-manifest", *args], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_printed_watcher_is_one_valid_deployment_reading_the_named_secrets(version):
    printed = _printed("--namespace", "ml", "--image", "registry.example.com/mlkube:0.1",
                       "--endpoint", "iris", "--interval", "10",
                       "--workspace-secret", "team-workspace")
    assert printed.returncode == 0, printed.stderr
    (deployment,) = list(yaml.safe_load_all(printed.stdout))
    kv.validate(deployment, version, strict=True)
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    (container,) = spec["template"]["spec"]["containers"]
    assert container["command"] == ["mlkube", "watch-registry", "--interval", "10",
                                    "--endpoint", "iris"]
    assert container["envFrom"] == [{"secretRef": {"name": "team-workspace"}}]
    assert spec["template"]["spec"]["volumes"][0]["secret"]["secretName"] == \
        "mlkube-kubeconfig"


def test_printing_the_watcher_without_an_image_says_which_flag_is_missing():
    printed = _printed("--namespace", "ml")
    assert printed.returncode == 1
    assert "--print-manifest needs --image" in printed.stderr
    assert "Traceback" not in printed.stderr


@pytest.mark.parametrize("version", VERSIONS)
def test_a_watcher_building_with_the_nodes_docker_mounts_its_socket_and_runs_as_root(
        version):
    printed = _printed("--namespace", "ml", "--image", "registry.example.com/mlkube:0.1",
                       "--docker-socket", "/run/docker.sock")
    assert printed.returncode == 0, printed.stderr
    (deployment,) = list(yaml.safe_load_all(printed.stdout))
    kv.validate(deployment, version, strict=True)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert {"name": "DOCKER_HOST", "value": "unix:///var/run/docker.sock"} in container["env"]
    assert {"name": "docker", "mountPath": "/var/run/docker.sock"} in container["volumeMounts"]
    assert {"name": "docker", "hostPath": {"path": "/run/docker.sock", "type": "Socket"}} \
        in pod["volumes"]
    assert container["securityContext"]["runAsUser"] == 0


@pytest.mark.parametrize("args, says", [
    (("--build",), "--build pushes the image it builds, so it needs --registry"),
    (("--build", "--registry", "127.0.0.1:5100", "--image", "x/y:1"),
     "--build and --image both name the watcher's image"),
])
def test_building_the_watcher_image_with_conflicting_flags_says_which(args, says):
    printed = _printed("--namespace", "ml", *args)
    assert printed.returncode == 1
    assert says in printed.stderr
    assert "Traceback" not in printed.stderr
