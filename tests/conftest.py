"""Session-wide fixtures: real MLflow models, trained once per test run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import models


@pytest.fixture(scope="session")
def iris_lgbm_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """AZUREML_MODEL_DIR of the iris LightGBM model (the MLmodel folder is ``model`` in it)."""
    root = tmp_path_factory.mktemp("iris-lgbm")
    models.train_iris_lightgbm(root)
    return root


@pytest.fixture(scope="session")
def sklearn_columns_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sklearn-columns")
    models.train_sklearn_columns(root)
    return root


@pytest.fixture(scope="session")
def tensor_pyfunc_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tensor-pyfunc")
    models.build_tensor_pyfunc(root)
    return root


@pytest.fixture(scope="session")
def constant_iris_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An iris pyfunc that predicts 7 for every row (in the LightGBM model's environment)."""
    root = tmp_path_factory.mktemp("constant-iris")
    models.build_constant_iris(root, 7)
    return root


@pytest.fixture(scope="session")
def raising_iris_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An iris pyfunc that loads, then raises in every predict."""
    root = tmp_path_factory.mktemp("raising-iris")
    models.build_raising_iris(root)
    return root


@pytest.fixture(scope="session")
def unloadable_iris_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An iris pyfunc whose loading raises."""
    root = tmp_path_factory.mktemp("unloadable-iris")
    models.build_unloadable_iris(root)
    return root
