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
