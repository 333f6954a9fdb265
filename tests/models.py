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


def train_sklearn_columns(azureml_model_dir: Path) -> Path:
    """scikit-learn pipeline over mixed column types (double, long, string): a column
    signature whose types must be checked. Predicts a float (regression)."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
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
    path = Path(azureml_model_dir) / "model"
    mlflow.sklearn.save_model(
        model,
        str(path),
        signature=infer_signature(X, model.predict(X)),
        input_example=X.iloc[:2],
        pip_requirements=_pinned("mlflow", "scikit-learn", "pandas", "numpy"),
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
