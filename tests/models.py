"""Real MLflow models for the tests, trained in a second or less.

Each builder writes a model folder the way users produce them, and returns the folder
that holds the ``MLmodel`` file. Layout follows Azure ML: a model registered from the
folder ``model`` is found at ``$AZUREML_MODEL_DIR/model``, so the builders take the
*parent* folder (what ``AZUREML_MODEL_DIR`` points at) and create ``model`` inside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
#: The Azure ML sample's scripts and files (examples/seed/README.md).
SEED_DIR = EXAMPLES_DIR / "seed"
IRIS_CSV = SEED_DIR / "data" / "iris.csv"
#: The sample's scoring code folder and its score.py.
SEED_CODE = SEED_DIR / "scoring"
SEED_SCORE_PY = SEED_CODE / "score.py"
#: mlkube's CLI YAML examples, the seed's conda file and a one-row request.
YAML_DIR = EXAMPLES_DIR / "yaml"
SAMPLE_REQUEST = YAML_DIR / "sample-request.json"
IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _pinned(*distributions: str) -> list[str]:
    """Requirements pinned to what is installed, as MLflow would infer them, without the
    seconds-long subprocess its inference costs."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in distributions]


def iris_frame() -> tuple[pd.DataFrame, pd.Series]:
    """The iris features (float columns in signature order) and integer labels."""
    df = pd.read_csv(IRIS_CSV)
    labels = {name: i for i, name in enumerate(sorted(df["species"].unique()))}
    y = df.pop("species").map(labels)
    return df[IRIS_COLUMNS].astype("float64"), y


def train_iris_lightgbm(azureml_model_dir: Path) -> Path:
    """LightGBM multiclass booster on iris, as the seed's train.py logs it with autolog.

    Flavors lightgbm + python_function, a column signature of four doubles and an input
    example. Returns ``azureml_model_dir / "model"``.
    """
    import lightgbm as lgb
    import mlflow.lightgbm
    from mlflow.models import infer_signature

    X, y = iris_frame()
    params = {"objective": "multiclass", "num_class": 3, "num_leaves": 8,
              "min_data_in_leaf": 5, "learning_rate": 0.1, "verbose": -1, "seed": 42}
    booster = lgb.train(params, lgb.Dataset(X, label=y), num_boost_round=20)
    path = Path(azureml_model_dir) / "model"
    mlflow.lightgbm.save_model(
        booster,
        str(path),
        signature=infer_signature(X, booster.predict(X)),
        input_example=X.iloc[:2],
        pip_requirements=_pinned("mlflow", "lightgbm", "pandas", "numpy", "scikit-learn"),
    )
    return path


def train_iris_lightgbm_objective(azureml_model_dir: Path, objective: str) -> Path:
    """A LightGBM booster on the iris features with one output per row: ``binary``
    (is it setosa?) or ``regression`` (the label as a number)."""
    import lightgbm as lgb
    import mlflow.lightgbm
    from mlflow.models import infer_signature

    X, y = iris_frame()
    target = (y == 0).astype(int) if objective == "binary" else y.astype(float)
    params = {"objective": objective, "num_leaves": 8, "min_data_in_leaf": 5,
              "verbose": -1, "seed": 42}
    booster = lgb.train(params, lgb.Dataset(X, label=target), num_boost_round=10)
    path = Path(azureml_model_dir) / "model"
    mlflow.lightgbm.save_model(booster, str(path),
                               signature=infer_signature(X, booster.predict(X)),
                               pip_requirements=_pinned("mlflow", "lightgbm"))
    return path


def _save_sklearn(model: object, X: pd.DataFrame, azureml_model_dir: Path) -> Path:
    """``mlflow.sklearn.save_model`` with the signature and input example taken from the
    training frame, as users log a fitted Pipeline."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    path = Path(azureml_model_dir) / "model"
    mlflow.sklearn.save_model(
        model,
        str(path),
        signature=infer_signature(X, model.predict(X)),  # type: ignore[attr-defined]
        input_example=X.iloc[:2],
        pip_requirements=_pinned("mlflow", "scikit-learn", "pandas", "numpy"),
    )
    return path


def train_sklearn_columns(azureml_model_dir: Path) -> Path:
    """scikit-learn pipeline over mixed column types (double, long, string): a column
    signature whose types must be checked. Predicts a float (regression)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    n = 60
    X = pd.DataFrame({
        "area": rng.uniform(20, 200, n).round(1),
        "rooms": rng.integers(1, 6, n).astype("int64"),
        "city": rng.choice(["berlin", "paris", "rome"], n),
    })
    y = 3.0 * X["area"] + 10 * X["rooms"] + X["city"].map({"berlin": 5, "paris": 9, "rome": 2})
    model = Pipeline([
        ("encode", ColumnTransformer(
            [("city", OneHotEncoder(handle_unknown="ignore"), ["city"])], remainder="passthrough"
        )),
        ("ridge", Ridge(alpha=0.1)),
    ]).fit(X, y)
    return _save_sklearn(model, X, azureml_model_dir)


#: The mixed-type classifier's columns: a double, a long, two strings and a boolean.
MIXED_COLUMNS = ["monthly_fee", "tenure_months", "plan", "region", "autopay"]


def mixed_frame(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Customer-like rows over mixed column types and a three-class string label that
    depends on every column, so a wrongly decoded column changes predictions."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "monthly_fee": rng.uniform(5, 80, n).round(2),
        "tenure_months": rng.integers(0, 60, n).astype("int64"),
        "plan": rng.choice(["basic", "plus", "pro"], n),
        "region": rng.choice(["north", "south", "east", "west"], n),
        "autopay": rng.random(n) < 0.5,
    })
    score = (X["monthly_fee"] / 20 - X["tenure_months"] / 15
             + X["plan"].map({"basic": 1.0, "plus": 0.0, "pro": -1.0})
             + X["region"].map({"north": 0.5, "south": -0.5, "east": 0.0, "west": 0.2})
             - X["autopay"].astype(float))
    y = pd.Series(np.where(score > 0.8, "churn", np.where(score > -1.2, "at_risk", "stay")))
    return X, y


def train_sklearn_mixed_classifier(azureml_model_dir: Path) -> Path:
    """scikit-learn Pipeline classifier over :data:`MIXED_COLUMNS`: the strings one-hot
    encoded, the numbers scaled, the boolean passed through; predicts string labels."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = mixed_frame()
    model = Pipeline([
        ("encode", ColumnTransformer([
            ("numbers", StandardScaler(), ["monthly_fee", "tenure_months"]),
            ("strings", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
        ], remainder="passthrough")),
        ("classify", LogisticRegression(max_iter=500)),
    ]).fit(X, y)
    return _save_sklearn(model, X, azureml_model_dir)


def train_iris_xgboost(azureml_model_dir: Path) -> Path:
    """XGBoost multiclass Booster on iris (``xgboost.train``, as autolog logs it): a column
    signature of four doubles, output float32 probabilities of shape (rows, 3)."""
    import mlflow.xgboost
    import xgboost as xgb
    from mlflow.models import infer_signature

    X, y = iris_frame()
    params = {"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "eta": 0.3,
              "seed": 0, "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=20)
    path = Path(azureml_model_dir) / "model"
    mlflow.xgboost.save_model(
        booster,
        str(path),
        signature=infer_signature(X, booster.predict(xgb.DMatrix(X))),
        input_example=X.iloc[:2],
        pip_requirements=_pinned("mlflow", "xgboost-cpu", "pandas", "numpy"),
    )
    return path


def train_iris_xgb_classifier(azureml_model_dir: Path) -> Path:
    """XGBoost's scikit-learn API (``XGBClassifier``) on iris, saved with ``mlflow.xgboost``:
    pyfunc predicts integer class labels."""
    import mlflow.xgboost
    import xgboost as xgb
    from mlflow.models import infer_signature

    X, y = iris_frame()
    model = xgb.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1, random_state=0).fit(X, y)
    path = Path(azureml_model_dir) / "model"
    mlflow.xgboost.save_model(
        model,
        str(path),
        signature=infer_signature(X, model.predict(X)),
        input_example=X.iloc[:2],
        pip_requirements=_pinned("mlflow", "xgboost-cpu", "scikit-learn", "pandas", "numpy"),
    )
    return path


def train_iris_onnx(azureml_model_dir: Path) -> Path:
    """A scikit-learn pipeline (scaler + logistic regression) trained on iris, converted
    with skl2onnx and saved with ``mlflow.onnx``: a float32 tensor signature (-1, 4) and
    two named outputs, ``label`` (int64) and ``probabilities`` (float32, (rows, 3))."""
    import mlflow.onnx
    from mlflow.models import infer_signature
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris_frame()
    features = X.to_numpy(dtype=np.float32)
    model = Pipeline([("scale", StandardScaler()),
                      ("classify", LogisticRegression(max_iter=500))]).fit(features, y)
    # zipmap off: probabilities as one float tensor, not a list of {class: p} maps.
    onnx_model = to_onnx(model, features[:1], target_opset=17,
                         options={LogisticRegression: {"zipmap": False}})
    labels, probabilities = model.predict(features), model.predict_proba(features)
    path = Path(azureml_model_dir) / "model"
    mlflow.onnx.save_model(
        onnx_model,
        str(path),
        signature=infer_signature(features, {"label": labels.astype(np.int64),
                                             "probabilities": probabilities.astype(np.float32)}),
        input_example=features[:2],
        # A CPU deployment: mlflow.onnx's default lists CUDA first and warns at every load.
        onnx_execution_providers=["CPUExecutionProvider"],
        pip_requirements=_pinned("mlflow", "onnx", "onnxruntime", "numpy", "pandas"),
    )
    return path


def _tensor_pyfunc_class():  # defined lazily so importing this file does not import mlflow
    import mlflow.pyfunc

    class TensorScaler(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            scale = (params or {}).get("scale", 1.0)
            array = np.asarray(model_input, dtype=np.float32)
            return (array.sum(axis=-1) * scale).astype(np.float32)

    return TensorScaler


def build_tensor_pyfunc(azureml_model_dir: Path) -> Path:
    """Custom pyfunc with a tensor signature (float32, shape (-1, 3)) and a ``scale``
    param (double, default 1.0): ``predict`` returns ``x.sum(axis=1) * scale``."""
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ParamSchema, ParamSpec, Schema, TensorSpec

    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 3))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1,))]),
        params=ParamSchema([ParamSpec("scale", "double", 1.0)]),
    )
    path = Path(azureml_model_dir) / "model"
    mlflow.pyfunc.save_model(
        str(path),
        python_model=_tensor_pyfunc_class()(),
        signature=signature,
        input_example=np.array([[1.0, 2.0, 3.0]], dtype=np.float32),
        pip_requirements=_pinned("mlflow", "numpy", "pandas"),
    )
    return path


def _iris_pyfunc_classes():  # lazily, as above: cloudpickle then saves them by value
    import mlflow.pyfunc

    class ConstantIris(mlflow.pyfunc.PythonModel):
        """Predicts ``value`` for every row: a new version a client can tell apart."""

        def __init__(self, value: int) -> None:
            self.value = value

        def predict(self, context, model_input, params=None):
            return np.full(len(model_input), self.value, dtype=np.int64)

    class RaisingIris(mlflow.pyfunc.PythonModel):
        """Loads and answers readiness, then raises in every predict: a broken release."""

        def predict(self, context, model_input, params=None):
            raise RuntimeError("release 2 lost its feature scaler")

    class UnloadableIris(mlflow.pyfunc.PythonModel):
        """Raises while loading: a version whose instances never become ready."""

        def load_context(self, context):
            raise RuntimeError("weights file of this release is corrupt")

        def predict(self, context, model_input, params=None):  # pragma: no cover
            return np.zeros(len(model_input), dtype=np.int64)

    return ConstantIris, RaisingIris, UnloadableIris


def _save_iris_pyfunc(azureml_model_dir: Path, python_model: object) -> Path:
    """A pyfunc with the iris column signature and the LightGBM model's own requirements,
    so it runs in the same (already built) environment."""
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    X, _ = iris_frame()
    path = Path(azureml_model_dir) / "model"
    mlflow.pyfunc.save_model(
        str(path), python_model=python_model,
        signature=infer_signature(X, np.zeros(len(X), dtype=np.int64)),
        pip_requirements=_pinned("mlflow", "lightgbm", "pandas", "numpy", "scikit-learn"),
    )
    return path


def build_constant_iris(azureml_model_dir: Path, value: int) -> Path:
    """An iris model that predicts ``value`` for every row."""
    constant, _, _ = _iris_pyfunc_classes()
    return _save_iris_pyfunc(azureml_model_dir, constant(value))


def build_raising_iris(azureml_model_dir: Path) -> Path:
    """An iris model that loads, then raises ``RuntimeError`` in every predict (500)."""
    _, raising, _ = _iris_pyfunc_classes()
    return _save_iris_pyfunc(azureml_model_dir, raising())


def build_unloadable_iris(azureml_model_dir: Path) -> Path:
    """An iris model whose loading raises: its instances never become ready."""
    _, _, unloadable = _iris_pyfunc_classes()
    return _save_iris_pyfunc(azureml_model_dir, unloadable())
