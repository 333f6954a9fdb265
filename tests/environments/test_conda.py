"""Conda files reduced to pip terms: versions rewritten, conda-only packages named."""

import pytest

from mlkube.environments.conda import conda_to_pip_specifier, read_conda_spec
from mlkube.errors import EnvironmentResolutionError


@pytest.mark.parametrize(("conda", "pip"), [
    ("", ""),
    ("=1.26", "==1.26.*"),
    ("=1.26.4=py311h64a7726_0", "==1.26.4.*"),
    ("==1.26.4", "==1.26.4"),
    (">=1.2,<2", ">=1.2,<2"),
    ("1.26.*", "==1.26.*"),
    ("1.26.4", "==1.26.4"),
    ("1.8*", "==1.8.*"),
])
def test_conda_version_specs_become_pip_specifiers(conda, pip):
    assert conda_to_pip_specifier(conda) == pip


def test_alternatives_have_no_pip_equivalent():
    assert conda_to_pip_specifier("1.2|1.4") is None


def test_conda_packages_known_on_pypi_are_converted_with_their_versions():
    spec = {"dependencies": ["python=3.10", "pip", "numpy=1.26", "scikit-learn>=1.3",
                             "conda-forge::pandas==2.2.1", "pytorch=2.1",
                             {"pip": ["mlflow", "-r requirements.txt"]}]}
    packages = read_conda_spec(spec, source="conda.yaml", current_python="3.11")
    assert packages.python_version == "3.10"
    assert [req for req, _ in packages.converted] == [
        "numpy==1.26.*", "scikit-learn>=1.3", "pandas==2.2.1", "torch==2.1.*"]
    assert packages.pip_lines == ("mlflow", "-r requirements.txt")


def test_conda_only_packages_are_all_named_in_one_error_with_the_fix():
    spec = {"dependencies": ["python=3.11", "cudatoolkit=11.8", "mkl", "libgcc-ng",
                             "numpy", "nvidia::cuda-nvcc", "somechannel::somepkg"]}
    with pytest.raises(EnvironmentResolutionError) as caught:
        read_conda_spec(spec, source="conda.yaml", current_python="3.11")
    message = caught.value.message
    for name in ("cudatoolkit=11.8", "mkl", "libgcc-ng", "nvidia::cuda-nvcc",
                 "somechannel::somepkg"):
        assert name in message
    assert "numpy" not in message
    assert "pip:" in caught.value.hint and "image" in caught.value.hint


@pytest.mark.parametrize(("python", "expected"), [
    ("python=3.11", "3.11"), ("python=3.11.7", "3.11"), ("python==3.12.1", "3.12"),
    ("python 3.10.*", "3.10"), ("python", None), ("python>=3.9", "3.11"),
])
def test_python_version_is_read_to_its_minor_version(python, expected):
    packages = read_conda_spec({"dependencies": [python]}, source="c.yaml", current_python="3.11")
    assert packages.python_version == expected


def test_python_range_that_excludes_the_running_version_asks_for_a_pin():
    with pytest.raises(EnvironmentResolutionError, match="python<3.9") as caught:
        read_conda_spec({"dependencies": ["python<3.9"]}, source="c.yaml", current_python="3.11")
    assert "python=3.11" in caught.value.hint


def test_malformed_conda_file_is_rejected_with_its_shape():
    with pytest.raises(EnvironmentResolutionError, match="must be a list"):
        read_conda_spec({"dependencies": "numpy"}, source="c.yaml", current_python="3.11")
    with pytest.raises(EnvironmentResolutionError, match="'pip:' with a list"):
        read_conda_spec({"dependencies": [{"pip": "mlflow"}]}, source="c.yaml",
                        current_python="3.11")
