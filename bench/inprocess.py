"""The model itself, outside any server: training it once, the rows every server is sent,
the answers they must give, and how long predict takes in-process.

The in-process times are the floor no server can beat; the gap between them and a
server's latency is what the server adds.
"""

from __future__ import annotations

import statistics
import sys
import time
import timeit
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def _tests_models():
    # The benchmark trains the model exactly as the tests do, from tests/models.py.
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests import models

    return models


def train_once(model_root: Path) -> Path:
    """Train the iris LightGBM model into ``model_root/model`` unless it is there."""
    model_dir = model_root / "model"
    if not (model_dir / "MLmodel").exists():
        model_root.mkdir(parents=True, exist_ok=True)
        _tests_models().train_iris_lightgbm(model_root)
    return model_dir


@dataclass(frozen=True)
class Bodies:
    """The rows sent to every server (single row and 100 rows) and the right answers."""

    columns: list[str]
    rows: dict[str, list[list[float]]]
    expected: dict[str, np.ndarray]


def make_bodies(model_dir: Path) -> Bodies:
    import lightgbm as lgb

    models = _tests_models()
    features, _ = models.iris_frame()
    booster = lgb.Booster(model_file=str(model_dir / "model.lgb"))
    chosen = {
        "1 row": features.iloc[[57]],
        "100 rows": features.sample(n=100, random_state=0),
    }
    rows = {name: frame.to_numpy().tolist() for name, frame in chosen.items()}
    expected = {name: booster.predict(np.asarray(r, dtype=np.float64))
                for name, r in rows.items()}
    return Bodies(columns=list(models.IRIS_COLUMNS), rows=rows, expected=expected)


def _median_seconds(func, *, budget_s: float, cpu: bool = False) -> float:
    """Median per-call time over repeats, with the call count sized to the budget.

    ``cpu`` measures the thread's CPU time instead of the wall clock: time spent waiting
    for the core while other work runs on it is left out.
    """
    timer = timeit.Timer(func, timer=time.thread_time if cpu else time.perf_counter)
    number, elapsed = timer.autorange()
    per_call = elapsed / number
    number = max(1, int(0.05 / per_call))  # about 50 ms per repeat
    repeats = max(5, int(budget_s / (number * per_call + 1e-9)))
    return statistics.median(t / number for t in timer.repeat(repeat=repeats, number=number))


def time_predict(model_dir: Path, bodies: Bodies, *,
                 budget_s: float) -> dict[str, dict[str, float]]:
    """Median microseconds (wall clock and CPU) of booster.predict, the server's LightGBM
    predictor and pyfunc.predict on the same rows."""
    import mlflow.lightgbm
    import mlflow.pyfunc
    import pandas as pd

    from mlkube.server.scorers.direct_predictors import booster_predictor
    from mlkube.server.signature import Table

    booster = mlflow.lightgbm.load_model(str(model_dir))
    pyfunc = mlflow.pyfunc.load_model(str(model_dir))
    # What the no-code server calls: the same C calls as booster.predict, made directly.
    served, _name = booster_predictor(booster)
    results: dict[str, dict[str, float]] = {}
    for name, rows in bodies.rows.items():
        array = np.asarray(rows, dtype=np.float64)
        frame = pd.DataFrame(rows, columns=bodies.columns)
        assert np.allclose(pyfunc.predict(frame), bodies.expected[name])
        table = Table({}, len(array), array)
        assert served(table, None).tobytes() == booster.predict(array).tobytes()
        calls = {f"booster.predict, {name} (numpy)": lambda a=array: booster.predict(a),
                 f"mlkube's LightGBM predictor, {name} (numpy)":
                     lambda t=table: served(t, None),
                 f"pyfunc.predict, {name} (DataFrame)": lambda f=frame: pyfunc.predict(f)}
        for label, call in calls.items():
            results[label] = {
                "wall_us": 1e6 * _median_seconds(call, budget_s=budget_s / 2),
                "cpu_us": 1e6 * _median_seconds(call, budget_s=budget_s / 2, cpu=True),
            }
    return results


def main(argv: list[str]) -> None:
    """Print the in-process times as JSON. run.py starts this under `taskset` so OpenMP
    (LightGBM's threads) sizes its pool for the one core, as it does inside a server."""
    import orjson

    model_dir, budget_s = Path(argv[0]), float(argv[1])
    bodies = make_bodies(model_dir)
    print(orjson.dumps(time_predict(model_dir, bodies, budget_s=budget_s)).decode())


if __name__ == "__main__":
    main(sys.argv[1:])
