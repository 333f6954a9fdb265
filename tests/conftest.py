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
def sklearn_mixed_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sklearn-mixed")
    models.train_sklearn_mixed_classifier(root)
    return root


@pytest.fixture(scope="session")
def xgboost_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("iris-xgboost")
    models.train_iris_xgboost(root)
    return root


@pytest.fixture(scope="session")
def onnx_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("iris-onnx")
    models.train_iris_onnx(root)
    return root
