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
