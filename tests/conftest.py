"""Session-wide fixtures: real MLflow models, trained once per test run."""

from __future__ import annotations

from collections.abc import Callable
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


def _trained(tmp_path_factory: pytest.TempPathFactory, name: str,
             builder: Callable[[Path], Path]) -> Path:
    root = tmp_path_factory.mktemp(name)
    builder(root)
    return root


@pytest.fixture(scope="session")
def sklearn_mixed_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _trained(tmp_path_factory, "sklearn-mixed", models.train_sklearn_mixed_classifier)


@pytest.fixture(scope="session")
def xgboost_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _trained(tmp_path_factory, "iris-xgboost", models.train_iris_xgboost)


@pytest.fixture(scope="session")
def xgb_classifier_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _trained(tmp_path_factory, "iris-xgb-classifier", models.train_iris_xgb_classifier)


@pytest.fixture(scope="session")
def onnx_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _trained(tmp_path_factory, "iris-onnx", models.train_iris_onnx)


@pytest.fixture(scope="session")
def constant_iris_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An iris pyfunc that predicts 7 for every row (in the LightGBM model's environment)."""
    return _trained(tmp_path_factory, "constant-iris",
                    lambda root: models.build_constant_iris(root, 7))


@pytest.fixture(scope="session")
def raising_iris_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An iris pyfunc that loads, then raises in every predict."""
    return _trained(tmp_path_factory, "raising-iris", models.build_raising_iris)


@pytest.fixture(scope="session")
def unloadable_iris_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An iris pyfunc whose loading raises."""
    return _trained(tmp_path_factory, "unloadable-iris", models.build_unloadable_iris)
