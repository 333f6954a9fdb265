"""The fixture models are real MLflow models that pyfunc can load and predict with."""

import mlflow.pyfunc
import numpy as np

from tests import models


def test_iris_model_predicts_three_class_probabilities(iris_lgbm_model_root):
    model = mlflow.pyfunc.load_model(str(iris_lgbm_model_root / "model"))
    X, _ = models.iris_frame()
    proba = np.asarray(model.predict(X.iloc[:5]))
    assert proba.shape == (5, 3)
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_tensor_pyfunc_applies_scale_param(tensor_pyfunc_model_root):
    model = mlflow.pyfunc.load_model(str(tensor_pyfunc_model_root / "model"))
    out = model.predict(np.array([[1, 2, 3]], dtype=np.float32), params={"scale": 2.0})
    assert out.tolist() == [12.0]


def test_sklearn_model_has_mixed_column_signature(sklearn_columns_model_root):
    model = mlflow.pyfunc.load_model(str(sklearn_columns_model_root / "model"))
    types = {c.name: c.type.name for c in model.metadata.get_input_schema().inputs}
    assert types == {"area": "double", "rooms": "long", "city": "string"}


def test_release_models_predict_a_constant_raise_in_predict_and_raise_at_load(
        constant_iris_model_root, raising_iris_model_root, unloadable_iris_model_root):
    import pytest

    X, _ = models.iris_frame()
    constant = mlflow.pyfunc.load_model(str(constant_iris_model_root / "model"))
    assert constant.predict(X.iloc[:3]).tolist() == [7, 7, 7]
    raising = mlflow.pyfunc.load_model(str(raising_iris_model_root / "model"))
    with pytest.raises(RuntimeError, match="feature scaler"):
        raising.predict(X.iloc[:1])
    with pytest.raises(RuntimeError, match="corrupt"):
        mlflow.pyfunc.load_model(str(unloadable_iris_model_root / "model"))
