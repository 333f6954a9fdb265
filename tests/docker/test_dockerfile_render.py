"""The rendered Dockerfile and build context: Azure ML's container layout, layers that
let deployments of one environment share the slow install, content-addressed tags, and
clear errors for inputs that cannot become an image. Pure: no Docker engine needed."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from mlkube.environments.dockerfile import (
    DEFAULT_BASE_IMAGE,
    render_build_context,
)
from mlkube.environments.resolved import ResolvedEnvironment
from mlkube.environments.server_package import server_requirement
from mlkube.errors import RequiredLocalArtifactsNotFoundError, ValidationError
from tests.models import SEED_CODE, SEED_SCORE_PY


@pytest.fixture()
def wheel(tmp_path: Path) -> Path:
    path = tmp_path / "wheels" / "mlkube-0.1.0-py3-none-any.whl"
    path.parent.mkdir()
    path.write_bytes(b"not really a wheel, but bytes to copy")
    return path


@pytest.fixture()
def environment(wheel: Path) -> ResolvedEnvironment:
    return ResolvedEnvironment(
        python_version="3.11.7",
        requirements=("mlflow==3.1.0", "lightgbm==4.7.0", server_requirement(wheel)),
    )


@pytest.fixture()
def model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "registered" / "model"
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "model.lgb").write_bytes(b"tree")
    (folder / "sub").mkdir()
    (folder / "sub" / "extra.json").write_text("{}")
    return folder


def test_model_folder_keeps_its_name_inside_azureml_model_dir(environment, wheel, model_folder):
    context = render_build_context(environment, wheel, model_path=model_folder,
                                   model_name="iris", model_version="3")

    model_dir = "/var/azureml-app/azureml-models/iris/3"
    assert context.environment["AZUREML_MODEL_DIR"] == model_dir
    assert f'COPY ["model/model", "{model_dir}/model"]' in context.dockerfile
    assert context.files["model/model/MLmodel"] == model_folder / "MLmodel"
    assert context.files["model/model/sub/extra.json"] == model_folder / "sub" / "extra.json"
    # The seed's score.py loads AZUREML_MODEL_DIR + "/model": the no-code server too.
    assert context.environment["MLFLOW_MODEL_FOLDER"] == "model"


def test_folder_names_with_spaces_are_copied_intact(environment, wheel, tmp_path):
    model = tmp_path / "my model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"w")

    context = render_build_context(environment, wheel, model_path=model)

    assert ('COPY ["model/my model", "/var/azureml-app/azureml-models/model/1/my model"]'
            in context.dockerfile)
    assert context.files["model/my model/weights.bin"] == model / "weights.bin"


def test_empty_model_folder_is_rejected_before_building(environment, wheel, tmp_path):
    (tmp_path / "empty").mkdir()

    with pytest.raises(RequiredLocalArtifactsNotFoundError, match="holds no files"):
        render_build_context(environment, wheel, model_path=tmp_path / "empty")


def test_no_code_image_sets_app_root_and_no_entry_script(environment, wheel, model_folder):
    context = render_build_context(environment, wheel, model_path=model_folder)

    assert "AZUREML_ENTRY_SCRIPT" not in context.environment
    assert context.environment["AML_APP_ROOT"] == "/var/azureml-app"
    assert context.environment["SERVER_PORT"] == "5001"
    assert 'CMD ["mlkube", "serve", "--host", "0.0.0.0"]' in context.dockerfile
    assert "EXPOSE 5001" in context.dockerfile


def test_scoring_script_mode_follows_azure_ml_app_root_and_entry_script(
    environment, wheel, model_folder
):
    context = render_build_context(environment, wheel, model_path=model_folder,
                                   code_path=SEED_CODE, scoring_script="score.py")

    assert (f'COPY ["code/{SEED_CODE.name}", "/var/azureml-app/{SEED_CODE.name}"]'
            in context.dockerfile)
    assert context.environment["AML_APP_ROOT"] == f"/var/azureml-app/{SEED_CODE.name}"
    assert context.environment["AZUREML_ENTRY_SCRIPT"] == "score.py"
    assert context.environment["AZUREML_SOURCE_DIRECTORY"] == f"/var/azureml-app/{SEED_CODE.name}"
    assert context.files[f"code/{SEED_CODE.name}/score.py"] == SEED_SCORE_PY
    assert f"WORKDIR /var/azureml-app/{SEED_CODE.name}" in context.dockerfile


def test_nested_scoring_script_makes_its_folder_the_app_root(environment, wheel, tmp_path):
    code = tmp_path / "src"
    (code / "onlinescoring").mkdir(parents=True)
    (code / "onlinescoring" / "score.py").write_text("def init(): pass\ndef run(d): return d\n")

    context = render_build_context(environment, wheel, code_path=code,
                                   scoring_script="onlinescoring/score.py")

    assert context.environment["AML_APP_ROOT"] == "/var/azureml-app/src/onlinescoring"
    assert context.environment["AZUREML_ENTRY_SCRIPT"] == "score.py"
    assert context.environment["AZUREML_SOURCE_DIRECTORY"] == "/var/azureml-app/src"


def test_every_dockerfile_instruction_has_a_step_title_for_build_errors(
    environment, wheel, model_folder, tmp_path
):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("pem")
    context = render_build_context(environment, wheel, model_path=model_folder,
                                   code_path=SEED_CODE, scoring_script="score.py", ca_bundle=bundle)

    instructions = [line for line in context.dockerfile.replace("\\\n", " ").splitlines()
                    if line and not line.startswith("#")]
    titled = dict(zip(context.steps, instructions, strict=True))
    assert "pip install -r" in titled[
        "install the environment's requirements (uv pip install -r requirements.txt; "
        "pip install -r where uv cannot be installed)"]
    assert titled["check the base image's Python (the environment needs 3.11)"].startswith(
        "RUN python3 -c")
    assert titled["set the command"].startswith("CMD ")


def test_runs_as_non_root_uid_1000(environment, wheel, model_folder):
    dockerfile = render_build_context(environment, wheel, model_path=model_folder).dockerfile

    assert "USER 1000:1000" in dockerfile
    assert dockerfile.index("USER 1000:1000") > dockerfile.index("pip install")


def test_deployments_sharing_an_environment_share_every_layer_up_to_the_model(
    environment, wheel, model_folder, tmp_path
):
    other_model = tmp_path / "other" / "clf"
    other_model.mkdir(parents=True)
    (other_model / "weights.bin").write_bytes(b"\x00\x01")

    first = render_build_context(environment, wheel, model_path=model_folder)
    second = render_build_context(environment, wheel, model_path=other_model,
                                  model_name="clf", code_path=SEED_CODE, scoring_script="score.py",
                                  environment_variables={"LOG_LEVEL": "debug"})

    marker = "# The model and code of this deployment."
    assert first.dockerfile.split(marker)[0] == second.dockerfile.split(marker)[0]
    shared = {k: v for k, v in first.files.items() if k.startswith("mlkube-build/")}
    assert shared == {k: v for k, v in second.files.items() if k.startswith("mlkube-build/")}


def test_server_wheel_is_installed_after_the_environment_so_mlkube_changes_reuse_it(
    environment, wheel, model_folder
):
    context = render_build_context(environment, wheel, model_path=model_folder)
    requirements = context.files["mlkube-build/requirements.txt"].decode()

    assert requirements == "mlflow==3.1.0\nlightgbm==4.7.0\n"
    dockerfile = context.dockerfile
    assert dockerfile.index("pip install -r") < dockerfile.index(f"COPY mlkube-build/{wheel.name}")
    assert "mlkube[server] @ file:///opt/mlkube/build/mlkube-0.1.0-py3-none-any.whl" in dockerfile


def test_ca_bundle_is_trusted_by_pip_during_the_build_only(environment, wheel, model_folder,
                                                          tmp_path):
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n...\n")

    context = render_build_context(environment, wheel, model_path=model_folder, ca_bundle=bundle)

    assert context.files["mlkube-build/ca-bundle.pem"] == bundle
    install_lines = [line for line in context.dockerfile.splitlines() if "pip install" in line]
    assert install_lines and all("PIP_CERT=/opt/mlkube/build/ca-bundle.pem" in line
                                 for line in install_lines)
    env_lines = [line for line in context.dockerfile.splitlines() if line.startswith("ENV")]
    assert not any("PIP_CERT" in line or "SSL_CERT_FILE" in line for line in env_lines)
    without = render_build_context(environment, wheel, model_path=model_folder)
    assert "PIP_CERT" not in without.dockerfile
    assert "mlkube-build/ca-bundle.pem" not in without.files


def test_base_image_comes_from_the_environment_or_defaults_to_mlkube_base(
    environment, wheel, model_folder, monkeypatch
):
    monkeypatch.delenv("MLKUBE_BASE_IMAGE", raising=False)
    default = render_build_context(environment, wheel, model_path=model_folder)
    custom = render_build_context(
        ResolvedEnvironment("3.11", environment.requirements, image="registry.local/py:3.11"),
        wheel, model_path=model_folder,
    )

    assert f"FROM {DEFAULT_BASE_IMAGE}\n" in default.dockerfile
    assert default.default_base_image and default.base_image == DEFAULT_BASE_IMAGE
    assert "FROM registry.local/py:3.11\n" in custom.dockerfile
    assert not custom.default_base_image


def test_python_version_is_checked_on_major_minor_before_the_install(environment, wheel,
                                                                     model_folder):
    dockerfile = render_build_context(environment, wheel, model_path=model_folder).dockerfile

    check = dockerfile.index("needs Python 3.11 but the base image has Python")
    assert check < dockerfile.index("python3 -m venv")


def test_environment_variables_are_set_with_shell_characters_kept_literal(
    environment, wheel, model_folder
):
    context = render_build_context(
        environment, wheel, model_path=model_folder,
        environment_variables={"GREETING": 'say "hi" to $USER \\ now'},
    )

    assert context.environment["GREETING"] == 'say "hi" to $USER \\ now'
    assert 'GREETING="say \\"hi\\" to \\$USER \\\\ now"' in context.dockerfile


@pytest.mark.parametrize("name, value", [("1BAD", "x"), ("WITH-DASH", "x"), ("OK", "two\nlines")])
def test_invalid_environment_variables_are_rejected_with_the_rule(
    environment, wheel, model_folder, name, value
):
    with pytest.raises(ValidationError) as caught:
        render_build_context(environment, wheel, model_path=model_folder,
                             environment_variables={name: value})

    assert name in caught.value.message
    assert caught.value.hint


def test_content_hash_is_stable_and_changes_with_any_model_byte(environment, wheel,
                                                                model_folder):
    first = render_build_context(environment, wheel, model_path=model_folder).content_hash
    again = render_build_context(environment, wheel, model_path=model_folder).content_hash
    (model_folder / "model.lgb").write_bytes(b"trees")
    changed = render_build_context(environment, wheel, model_path=model_folder).content_hash

    assert first == again
    assert changed != first
    assert len(first) == 20 and first == first.lower()


def test_tar_holds_every_file_with_normalised_metadata(environment, wheel, model_folder):
    context = render_build_context(environment, wheel, model_path=model_folder)
    buffer = io.BytesIO()

    context.write_tar(buffer)
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as archive:
        members = {member.name: member for member in archive.getmembers()}
        dockerfile = archive.extractfile("Dockerfile").read().decode()

    assert set(members) == set(context.all_files())
    assert dockerfile == context.dockerfile
    assert {(m.uid, m.gid, m.mtime) for m in members.values()} == {(0, 0, 0)}
    again = io.BytesIO()
    context.write_tar(again)
    assert again.getvalue() == buffer.getvalue()


def test_missing_model_code_or_script_name_the_path(environment, wheel, model_folder, tmp_path):
    with pytest.raises(RequiredLocalArtifactsNotFoundError, match="model .*nowhere"):
        render_build_context(environment, wheel, model_path=tmp_path / "nowhere")
    with pytest.raises(RequiredLocalArtifactsNotFoundError, match="score_v2.py"):
        render_build_context(environment, wheel, code_path=SEED_CODE, scoring_script="score_v2.py")
    with pytest.raises(ValidationError, match="without a code folder"):
        render_build_context(environment, wheel, scoring_script="score.py")
    with pytest.raises(ValidationError, match="leaves the code folder"):
        render_build_context(environment, wheel, code_path=SEED_CODE, scoring_script="../x.py")


def test_requirement_pointing_at_a_local_file_is_rejected_with_a_fix(wheel, model_folder):
    environment = ResolvedEnvironment("3.11", ("mypkg @ file:///home/me/mypkg",))

    with pytest.raises(ValidationError) as caught:
        render_build_context(environment, wheel, model_path=model_folder)

    assert "mypkg" in caught.value.message
    assert "index" in caught.value.hint
