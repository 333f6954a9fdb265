"""`mlkube k8s render --build` as a user runs it, against a real registry on 127.0.0.1:
the deployment's and the gateway's images are built and pushed, and the manifests name
digests the registry really serves, never a mutable tag."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from mlkube.entities.model import Model
from mlkube.operations.client import MLClient
from tests.docker.test_registry_push import (
    MANIFEST_TYPES,
    registry,  # noqa: F401 - the fixture
)

# A cold machine installs the model's environment (mlflow, LightGBM, ...) into the image.
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory, iris_lgbm_model_root: Path
          ) -> tuple[Path, Path, Path]:
    """A workspace with iris-lgbm registered, and the endpoint and deployment YAML that
    name it as ``@latest``, as a GitOps repository would hold them."""
    root = tmp_path_factory.mktemp("render-build")
    workspace = root / "workspace"
    MLClient(workspace=workspace).models.create_or_update(Model(
        name="iris-lgbm", path=str(iris_lgbm_model_root / "model"), type="mlflow_model"))
    endpoint = root / "endpoint.yml"
    endpoint.write_text("name: iris\ncompute: azureml:k8s-compute\nauth_mode: key\n"
                        "traffic:\n  blue: 100\n")
    deployment = root / "blue.yml"
    deployment.write_text("name: blue\ntype: kubernetes\nendpoint_name: iris\n"
                          "model: azureml:iris-lgbm@latest\ninstance_type: Standard_F2s_v2\n")
    return workspace, endpoint, deployment


def _render(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlkube.cli.main", "k8s", "render", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=1700)


def test_render_build_pins_every_pod_to_a_digest_the_registry_serves(
        docker_engine, registry: str, specs: tuple[Path, Path, Path]) -> None:  # noqa: F811
    workspace, endpoint, deployment = specs
    result = _render("-f", str(endpoint), "-f", str(deployment), "--build",
                     "--registry", f"{registry}/team", "--workspace", str(workspace),
                     cwd=endpoint.parent)
    assert result.returncode == 0, result.stderr

    manifests = list(yaml.safe_load_all(result.stdout))  # stdout is the YAML alone
    workloads = {m["metadata"]["labels"]["app.kubernetes.io/component"]: m
                 for m in manifests if m["kind"] == "Deployment"}
    assert set(workloads) == {"gateway", "inference-server"}
    for component, repository in (("inference-server", "team/iris-blue"),
                                  ("gateway", "team/mlkube-gateway")):
        [container] = workloads[component]["spec"]["template"]["spec"]["containers"]
        name, _, digest = container["image"].partition("@")
        assert name == f"{registry}/{repository}"
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), container["image"]
        served = httpx.get(f"http://{registry}/v2/{repository}/manifests/{digest}",
                           headers={"Accept": MANIFEST_TYPES}, timeout=10)
        assert served.status_code == 200, (component, served.text)
        assert served.headers["Docker-Content-Digest"] == digest

    [server] = workloads["inference-server"]["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item["value"] for item in server["env"]}
    # The layout the image was built with: @latest resolved to the registered version.
    assert env["AZUREML_MODEL_DIR"] == "/var/azureml-app/azureml-models/iris-lgbm/1"
    assert server["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}  # F2s_v2
    assert f"pushed {server['image']}" in result.stderr
    assert "nothing has built" not in result.stderr and "placeholder" not in result.stderr


def test_render_build_again_reuses_the_images_and_renders_the_same_digests(
        docker_engine, registry: str, specs: tuple[Path, Path, Path]) -> None:  # noqa: F811
    workspace, endpoint, deployment = specs
    args = ("-f", str(endpoint), "-f", str(deployment), "--build", "--registry",
            f"{registry}/team", "--workspace", str(workspace))
    first, second = _render(*args, cwd=endpoint.parent), _render(*args, cwd=endpoint.parent)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert first.stdout.count("@sha256:") == 2
    # Unchanged specs, unchanged bytes: GitOps sees no diff.
    assert [line for line in first.stdout.splitlines() if "image:" in line] == [
        line for line in second.stdout.splitlines() if "image:" in line]


def test_render_build_to_a_registry_that_is_down_says_so_and_prints_no_yaml(
        docker_engine, specs: tuple[Path, Path, Path]) -> None:
    from tests.kubernetes_io.kubeconfigs import closed_port

    workspace, endpoint, deployment = specs
    address = f"127.0.0.1:{closed_port()}"
    result = _render("-f", str(endpoint), "-f", str(deployment), "--build",
                     "--registry", address, "--workspace", str(workspace),
                     cwd=endpoint.parent)
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"cannot reach {address}" in result.stderr
    assert "Traceback" not in result.stderr
