"""`mlkube k8s render` run as a user runs it: a subprocess, files in, YAML out."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import yaml
from kubernetes_validate import utils as kv

from mlkube.gateway.auth import load_endpoint_keys
from tests.kubernetes.scenarios import SPECS


def _mlkube(*args: str, cwd: Path = SPECS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlkube.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_render_prints_valid_multi_document_yaml_and_says_what_to_change() -> None:
    result = _mlkube("k8s", "render", "-f", "canary-endpoint.yml", "-f", "blue-deployment.yml",
                     "-f", "green-deployment.yml", "--namespace", "serving",
                     "--image", "blue=registry.example.com/blue:1",
                     "--ingress-host", "iris.example.com", "--tls-secret", "iris-tls")
    assert result.returncode == 0, result.stderr
    manifests = list(yaml.safe_load_all(result.stdout))
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds.count("Deployment") == 3 and "Ingress" in kinds and "Secret" in kinds
    for manifest in manifests:
        assert manifest["metadata"]["namespace"] == "serving"
        kv.validate(manifest, "1.28.0", strict=True)
    images = [m["spec"]["template"]["spec"]["containers"][0]["image"]
              for m in manifests if m["kind"] == "Deployment"]
    assert "registry.example.com/blue:1" in images
    [secret] = [m for m in manifests if m["kind"] == "Secret"]
    assert "data" not in secret
    # Placeholders are named on stderr, never mixed into the YAML.
    assert "green, gateway" in result.stderr and "placeholders" in result.stderr
    assert "--show-secrets" in result.stderr


def test_render_with_show_secrets_prints_fresh_usable_keys() -> None:
    result = _mlkube("k8s", "render", "-f", "iris-endpoint.yml", "-f", "mlflow-deployment.yml",
                     "--registry", "registry.example.com", "--show-secrets")
    assert result.returncode == 0, result.stderr
    [secret] = [m for m in yaml.safe_load_all(result.stdout) if m["kind"] == "Secret"]
    keys = load_endpoint_keys(base64.b64decode(secret["data"]["keys.json"]).decode())
    assert keys.primary_key != keys.secondary_key
    assert "placeholders" not in result.stderr


def test_render_rejects_an_invalid_spec_naming_file_field_and_rule(tmp_path: Path) -> None:
    endpoint = tmp_path / "endpoint.yml"
    endpoint.write_text("name: iris\ncompute: azureml:k8s\ntraffic:\n  blue: 90\n")
    deployment = tmp_path / "deployment.yml"
    deployment.write_text("name: blue\ntype: kubernetes\nmodel: azureml:iris:1\n")
    result = _mlkube("k8s", "render", "-f", str(endpoint), "-f", str(deployment),
                     cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert str(endpoint) in result.stderr
    assert "traffic" in result.stderr and "adds up to 90 %" in result.stderr
    assert "Hint:" in result.stderr and "Traceback" not in result.stderr


def test_render_needs_exactly_one_endpoint_file() -> None:
    result = _mlkube("k8s", "render", "-f", "blue-deployment.yml")
    assert result.returncode == 1
    assert "exactly one endpoint YAML file" in result.stderr
    assert "Traceback" not in result.stderr


def test_render_with_a_registry_but_no_build_says_nothing_built_those_tags() -> None:
    result = _mlkube("k8s", "render", "-f", "iris-endpoint.yml", "-f", "mlflow-deployment.yml",
                     "--registry", "registry.example.com/team")
    assert result.returncode == 0, result.stderr
    assert "registry.example.com/team/iris-blue:latest" in result.stdout
    assert "images of blue, gateway name tags under registry.example.com/team that nothing " \
        "has built" in result.stderr
    assert "add --build" in result.stderr


def test_render_build_without_a_registry_is_refused_before_anything_is_built() -> None:
    result = _mlkube("k8s", "render", "-f", "iris-endpoint.yml", "-f", "mlflow-deployment.yml",
                     "--build")
    assert result.returncode == 1
    assert "--build pushes the images it builds, so it needs --registry" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_render_build_checks_the_render_options_before_building() -> None:
    result = _mlkube("k8s", "render", "-f", "seed-endpoint.yml", "-f", "score-py-deployment.yml",
                     "--build", "--registry", "registry.example.com/team",
                     "--namespace", "Not_A_Name")
    assert result.returncode == 1
    assert "Namespace 'Not_A_Name' is not a valid Kubernetes name" in result.stderr
    assert "building" not in result.stderr and "preparing" not in result.stderr
