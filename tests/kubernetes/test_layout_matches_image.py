"""The pod spec tells the server the same paths the image put the model and code at.

The image renderer bakes Azure ML's variables into the image; the Kubernetes renderer
writes them into the pod spec again (so ``kubectl describe`` shows them). If the two ever
disagreed, the pod's values would win and point the server at an empty folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlkube.entities.container_layout import build_layout
from mlkube.entities.online_deployment import KubernetesOnlineDeployment
from mlkube.entities.online_endpoint import KubernetesOnlineEndpoint
from mlkube.environments.dockerfile import render_build_context
from mlkube.environments.resolved import ResolvedEnvironment
from mlkube.targets.kubernetes.render import render_manifests

# Names only the pod spec carries (the server's v2 routes name the model with them).
_POD_ONLY = {"MLKUBE_MODEL_NAME", "MLKUBE_MODEL_VERSION", "HOME", "TMPDIR",
             "SCORING_TIMEOUT_MS"}


@pytest.fixture
def model_and_code(tmp_path: Path) -> tuple[Path, Path, Path]:
    mlflow_model = tmp_path / "registered" / "model"
    mlflow_model.mkdir(parents=True)
    (mlflow_model / "MLmodel").write_text("flavors: {}\n")
    plain_model = tmp_path / "plain" / "weights"
    plain_model.mkdir(parents=True)
    (plain_model / "weights.bin").write_bytes(b"\0")
    code = tmp_path / "onlinescoring"
    (code / "scoring").mkdir(parents=True)
    (code / "scoring" / "score.py").write_text("def init(): ...\ndef run(raw): ...\n")
    return mlflow_model, plain_model, code


@pytest.mark.parametrize("case", ["no-code mlflow", "score.py in a subfolder",
                                  "score.py with a non-mlflow model"])
def test_pod_environment_agrees_with_the_image_environment(
    case: str, model_and_code: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    mlflow_model, plain_model, code = model_and_code
    model = plain_model if case == "score.py with a non-mlflow model" else mlflow_model
    script = None if case == "no-code mlflow" else "scoring/score.py"
    wheel = tmp_path / "mlkube-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    image_env = render_build_context(
        ResolvedEnvironment(python_version="3.11", requirements=("mlflow",)), wheel,
        model_path=model, model_name="iris", model_version="7",
        code_path=code if script else None, scoring_script=script,
    ).environment

    layout = build_layout(model_name="iris", model_version="7", model_folder=model.name,
                          mlflow_model=(model / "MLmodel").is_file(),
                          code_folder=code.name if script else None, scoring_script=script)
    deployment = KubernetesOnlineDeployment(name="blue", model="azureml:iris@latest")
    manifests = render_manifests(KubernetesOnlineEndpoint(name="iris", compute="k8s"),
                                 [deployment], layouts={"blue": layout})
    [pod] = [m["spec"]["template"]["spec"] for m in manifests if m["kind"] == "Deployment"
             and m["metadata"]["labels"].get("mlkube.io/deployment") == "blue"]
    pod_env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert {k: v for k, v in pod_env.items() if k not in _POD_ONLY} == dict(image_env)
    assert pod_env["MLKUBE_MODEL_VERSION"] == "7"  # the prepared version, not "latest"
