"""The LightGBM Booster is predicted through LightGBM's C API (scorers/direct_predictors.py):
its answers must be pyfunc's, byte for byte, for every model shape, batch size, layout
and thread count, and under concurrent requests."""

from __future__ import annotations

import threading
from pathlib import Path

import lightgbm
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from mlkube.server.scorers.direct_predictors import SINGLE_THREAD_ROWS, booster_predictor
from mlkube.server.signature import Table
from tests.models import IRIS_COLUMNS, iris_frame, train_iris_lightgbm_objective


def noisy_iris_rows(rows: int, seed: int) -> np.ndarray:
    """Iris rows moved by noise, so every value is a full-precision double."""
    features, _ = iris_frame()
    picked = features.sample(n=rows, replace=True, random_state=seed).to_numpy()
    return picked + np.random.default_rng(seed).normal(0.0, 0.05, picked.shape)


def same_bytes(got: np.ndarray, expected: np.ndarray) -> bool:
    return (got.shape == expected.shape and got.dtype == expected.dtype
            and got.tobytes() == expected.tobytes())


@pytest.fixture(scope="module", params=["binary", "regression"])
def single_output_root(request, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp(f"lgbm-{request.param}")
    train_iris_lightgbm_objective(root, request.param)
    return root


@pytest.mark.parametrize("rows", [1, 2, 100, SINGLE_THREAD_ROWS + 88])
def test_iris_server_answers_are_pyfuncs_bytes_at_every_batch_size(iris_server,
                                                                  iris_lgbm_model_root, rows):
    assert iris_server.app.scorer.predictor_name == "lightgbm-booster"
    matrix = noisy_iris_rows(rows, seed=rows)
    expected = mlflow.pyfunc.load_model(str(iris_lgbm_model_root / "model")).predict(
        pd.DataFrame(matrix, columns=IRIS_COLUMNS))
    response = iris_server.client.post("/score", json={"data": matrix.tolist()})
    assert response.status_code == 200, response.text
    # JSON carries doubles exactly (shortest repr), so equal values are equal bytes.
    assert same_bytes(np.asarray(response.json()), expected)


def test_single_output_models_answer_flat_lists_equal_to_pyfunc(start_server,
                                                                single_output_root):
    server = start_server(model_dir=str(single_output_root))
    assert server.app.scorer.predictor_name == "lightgbm-booster"
    model = mlflow.pyfunc.load_model(str(single_output_root / "model"))
    for rows in (1, 50):
        matrix = noisy_iris_rows(rows, seed=7)
        expected = model.predict(pd.DataFrame(matrix, columns=IRIS_COLUMNS))
        response = server.client.post("/invocations", json={
            "dataframe_split": {"columns": IRIS_COLUMNS, "data": matrix.tolist()}})
        assert response.status_code == 200, response.text
        got = np.asarray(response.json()["predictions"])
        assert got.ndim == 1 and same_bytes(got, expected)


def test_missing_values_and_both_layouts_give_booster_predicts_bytes(iris_lgbm_model_root):
    booster = lightgbm.Booster(model_file=str(iris_lgbm_model_root / "model" / "model.lgb"))
    predict, name = booster_predictor(booster)
    assert name == "lightgbm-booster"
    matrix = noisy_iris_rows(600, seed=3)
    matrix[::3, 1] = np.nan
    matrix[1::5] = 0.0
    for batch in (matrix[:1], matrix[1:2], matrix[:40], matrix,
                  np.asfortranarray(matrix[:40]), np.asfortranarray(matrix)):
        got = predict(Table({}, len(batch), batch), None)
        expected = booster.predict(batch) if len(batch) > SINGLE_THREAD_ROWS else \
            booster.predict(batch, num_threads=1)
        assert same_bytes(got, expected), f"{batch.shape} {batch.flags.f_contiguous}"


def test_concurrent_requests_each_get_their_own_answer(iris_lgbm_model_root):
    # One row goes through LightGBM's shared fast-path config; batches through the
    # matrix call. Threads mixing both must never see each other's answers.
    booster = lightgbm.Booster(model_file=str(iris_lgbm_model_root / "model" / "model.lgb"))
    predict, name = booster_predictor(booster)
    assert name == "lightgbm-booster"
    batches = [noisy_iris_rows(1 + seed % 3, seed) for seed in range(60)]
    expected = [booster.predict(batch, num_threads=1) for batch in batches]
    wrong: list[int] = []

    def client(offset: int) -> None:
        for round_ in range(20):
            index = (offset * 7 + round_) % len(batches)
            got = predict(Table({}, len(batches[index]), batches[index]), None)
            if not same_bytes(got, expected[index]):
                wrong.append(index)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def test_a_signature_wider_than_the_trees_gets_lightgbms_own_message(iris_lgbm_model_root):
    booster = lightgbm.Booster(model_file=str(iris_lgbm_model_root / "model" / "model.lgb"))
    predict, name = booster_predictor(booster)
    assert name == "lightgbm-booster"
    wide = np.ones((1, 5))
    with pytest.raises(lightgbm.basic.LightGBMError, match="number of features"):
        predict(Table({}, 1, wide), None)
