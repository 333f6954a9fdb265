"""Every way of describing an environment resolves to a python version and a stable pip
set, with mlkube's server added."""

import shutil
from pathlib import Path

import pytest

from mlkube.entities.environment import Environment
from mlkube.environments.resolution import resolve_environment
from mlkube.errors import EnvironmentResolutionError
from tests.models import YAML_DIR

SERVER = "mlkube[server] @ file:///opt/wheels/mlkube-0.1.0-py3-none-any.whl"


def names(resolved):
    return [r.split("[")[0].split("=")[0].split(" ")[0] for r in resolved.requirements]


def test_mlflow_model_resolves_from_python_env_and_requirements(iris_lgbm_model_root):
    model = iris_lgbm_model_root / "model"
    pinned = (model / "requirements.txt").read_text().split()
    resolved = resolve_environment(iris_lgbm_model_root, server_requirement=SERVER)
    assert resolved.python_version == "3.11"
    assert set(resolved.requirements) == {*pinned, SERVER}
    assert list(resolved.requirements) == sorted(resolved.requirements, key=str.lower)
    assert any("requirements.txt (via python_env.yaml)" in s for s in resolved.sources)


def test_model_folder_and_its_parent_resolve_the_same(tensor_pyfunc_model_root):
    outer = resolve_environment(tensor_pyfunc_model_root, server_requirement=SERVER)
    inner = resolve_environment(tensor_pyfunc_model_root / "model", server_requirement=SERVER)
    assert outer == inner
    assert outer.content_hash == inner.content_hash


def test_model_without_python_env_falls_back_to_conda_yaml(iris_lgbm_model_root, tmp_path):
    model = shutil.copytree(iris_lgbm_model_root / "model", tmp_path / "model")
    (model / "python_env.yaml").unlink()
    (model / "requirements.txt").unlink()
    resolved = resolve_environment(model, server_requirement=SERVER)
    assert resolved.python_version == "3.11"
    assert any(r.startswith("lightgbm==") for r in resolved.requirements)
    assert all("conda.yaml" in s for s in resolved.sources if not s.startswith("mlkube"))


def test_model_with_only_requirements_txt_takes_python_from_mlmodel(iris_lgbm_model_root,
                                                                     tmp_path):
    model = shutil.copytree(iris_lgbm_model_root / "model", tmp_path / "model")
    (model / "python_env.yaml").unlink()
    (model / "conda.yaml").unlink()
    resolved = resolve_environment(model, server_requirement=SERVER)
    assert resolved.python_version == "3.11"  # MLmodel's python_function.python_version
    assert "mlflow" in names(resolved)


def test_model_without_environment_files_is_an_error_naming_them(tmp_path):
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    with pytest.raises(EnvironmentResolutionError, match="python_env.yaml, conda.yaml"):
        resolve_environment(tmp_path, server_requirement=SERVER)


def test_seed_conda_file_resolves_with_the_server_added():
    resolved = resolve_environment(
        Environment(image="mcr.microsoft.com/azureml/minimal", conda_file=str(YAML_DIR /
                                                                              "conda.yaml")),
        server_requirement=SERVER,
    )
    assert resolved.python_version == "3.11"
    assert resolved.requirements == ("lightgbm", "mlflow", SERVER, "pandas", "scikit-learn")
    assert resolved.image is None  # Azure ML's image: mlkube's base instead, said so


def test_seed_conda_file_with_azure_server_added_by_hand_drops_it(tmp_path):
    conda = (YAML_DIR / "conda.yaml").read_text().replace(
        "      - scikit-learn", "      - scikit-learn\n      - azureml-inference-server-http")
    (tmp_path / "conda.yaml").write_text(conda)
    resolved = resolve_environment(Environment(conda_file=str(tmp_path / "conda.yaml")),
                                   server_requirement=SERVER)
    assert "azureml-inference-server-http" not in names(resolved)
    assert SERVER in resolved.requirements
    assert any(s.startswith("dropped azureml-inference-server-http") for s in resolved.sources)


def test_yaml_environment_resolves_conda_file_and_its_includes_relative_to_itself(tmp_path):
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "extra.txt").write_text("six==1.16.0\n")
    (tmp_path / "env" / "conda.yaml").write_text(
        "dependencies:\n  - python=3.10\n  - numpy=1.26\n  - pip\n"
        "  - pip:\n    - -r extra.txt\n    - requests>=2\n")
    (tmp_path / "environment.yml").write_text(
        "name: e\nimage: python:3.10-slim\nconda_file: env/conda.yaml\n")
    resolved = resolve_environment(Environment.from_yaml(tmp_path / "environment.yml"),
                                   server_requirement=SERVER)
    assert resolved.python_version == "3.10"
    assert resolved.requirements == (SERVER, "numpy==1.26.*", "requests>=2", "six==1.16.0")


def test_pip_requirements_list_and_python_version_flag(tmp_path):
    resolved = resolve_environment(
        Environment(image="x", pip_requirements=["scikit-learn==1.5.0", "pandas"],
                    python_version="3.12.1"),
        server_requirement=SERVER,
    )
    assert resolved.python_version == "3.12"
    assert resolved.requirements == (SERVER, "pandas", "scikit-learn==1.5.0")


def test_environment_with_only_an_image_needs_just_the_server():
    resolved = resolve_environment(Environment(image="python:3.11-slim"),
                                   server_requirement=SERVER)
    assert resolved.requirements == (SERVER,)


def test_conda_only_dependencies_are_named(tmp_path):
    conda = tmp_path / "conda.yaml"
    conda.write_text("dependencies:\n  - python=3.11\n  - cudatoolkit=11.8\n  - mkl\n"
                     "  - pip:\n    - torch\n")
    with pytest.raises(EnvironmentResolutionError, match="cudatoolkit=11.8, mkl"):
        resolve_environment(Environment(conda_file=str(conda)), server_requirement=SERVER)


def test_missing_conda_file_names_the_path(tmp_path):
    with pytest.raises(EnvironmentResolutionError, match="nope.yaml"):
        resolve_environment(Environment(conda_file=str(tmp_path / "nope.yaml")),
                            server_requirement=SERVER)


def test_same_needs_give_the_same_cache_key_whatever_their_order():
    first = resolve_environment(Environment(pip_requirements=["b", "a==1"]),
                                server_requirement=SERVER)
    second = resolve_environment(Environment(pip_requirements=["a==1", "b", "b"]),
                                 server_requirement=SERVER)
    assert first.content_hash == second.content_hash


def test_default_server_requirement_is_a_wheel_of_this_mlkube(tmp_path, monkeypatch):
    monkeypatch.setenv("MLKUBE_CACHE_DIR", str(tmp_path))
    resolved = resolve_environment(Environment(pip_requirements=["six"]))
    server = [r for r in resolved.requirements if r.startswith("mlkube")]
    assert len(server) == 1 and server[0].startswith("mlkube[server] @ file://")
    wheel = Path(server[0].split("file://", 1)[1])
    assert wheel.is_file() and wheel.suffix == ".whl"


def test_azure_ml_images_are_replaced_by_mlkubes_base_and_the_dockerfile_says_so(tmp_path):
    from mlkube.environments.dockerfile import default_base_image, render_build_context

    image = "mcr.microsoft.com/azureml/lightgbm-3.2-ubuntu18.04-py37-cpu-inference:20221107.v3"
    resolved = resolve_environment(
        Environment(image=image, conda_file=str(YAML_DIR / "conda.yaml")),
        server_requirement=SERVER)
    assert resolved.image is None
    assert any(s.startswith(f"image {image} is Azure ML's; container targets build on "
                            "mlkube's base image") for s in resolved.sources)
    wheel = tmp_path / "mlkube-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    context = render_build_context(resolved, wheel)
    assert context.base_image == default_base_image() and context.default_base_image
    assert "mcr.microsoft.com" not in context.dockerfile
    assert 'python3 -c' in context.dockerfile and "3.11" in context.dockerfile  # conda's Python

    other = resolve_environment(Environment(image="python:3.11-slim",
                                            conda_file=str(YAML_DIR / "conda.yaml")),
                                server_requirement=SERVER)
    assert other.image == "python:3.11-slim"  # any other image is used as given
