"""LightGBM and XGBoost Boosters are predicted through their libraries' C APIs with the
per-model work done once (scorers/direct_predictors.py): the answers must be pyfunc's,
byte for byte, for every model shape, batch size, layout and thread count, under
concurrent requests, and a wrong input width must still get the library's own message."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from mlkube.server.scorers.direct_predictors import (
    SINGLE_THREAD_ROWS,
    booster_predictor,
    xgboost_predictor,
)
from mlkube.server.signature import CompiledSignature, InputSignature, Table
from tests.models import IRIS_COLUMNS, iris_frame, train_iris_lightgbm_objective
from tests.server.test_batching import fire_concurrently

# Batch sizes: the single-row path, small batches and the all-threads path.
SIZES = [1, 2, 100, SINGLE_THREAD_ROWS + 88]


def noisy_iris_rows(rows: int, seed: int) -> np.ndarray:
    """Iris rows moved by noise, so every value is a full-precision double."""
    features, _ = iris_frame()
    picked = features.sample(n=rows, replace=True, random_state=seed).to_numpy()
    return picked + np.random.default_rng(seed).normal(0.0, 0.05, picked.shape)


def same_bytes(got: np.ndarray, expected: np.ndarray) -> bool:
    return (got.shape == expected.shape and got.dtype == expected.dtype
            and got.tobytes() == expected.tobytes())


def table(matrix: np.ndarray) -> Table:
    return Table({}, len(matrix), matrix)


def lightgbm_direct(model_root: Path) -> tuple[Callable[..., Any], Any]:
    booster = lightgbm.Booster(model_file=str(model_root / "model" / "model.lgb"))
    predict, name = booster_predictor(booster)
    assert name == "lightgbm-booster"
    return predict, booster


def xgboost_direct(model_root: Path) -> tuple[Callable[..., Any], Any]:
    pyfunc = mlflow.pyfunc.load_model(str(model_root / "model"))
    signature = CompiledSignature(InputSignature.from_mlflow_dict(
        pyfunc.metadata.signature.to_dict()))
    chosen = xgboost_predictor(pyfunc.get_raw_model(), signature)
    assert chosen is not None and chosen[1] == "xgboost-booster"
    return chosen[0], pyfunc.get_raw_model()


@pytest.fixture(scope="module", params=["binary", "regression"])
def single_output_root(request, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp(f"lgbm-{request.param}")
    train_iris_lightgbm_objective(root, request.param)
    return root


@pytest.mark.parametrize("rows", SIZES)
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


def test_xgboost_answers_are_pyfuncs_bytes_at_every_batch_size(xgboost_model_root):
    predict, _booster = xgboost_direct(xgboost_model_root)
    model = mlflow.pyfunc.load_model(str(xgboost_model_root / "model"))
    for rows in SIZES:
        matrix = noisy_iris_rows(rows, seed=rows)
        expected = model.predict(pd.DataFrame(matrix, columns=IRIS_COLUMNS))
        assert same_bytes(predict(table(matrix), None), expected), rows


@pytest.mark.parametrize("flavor", ["lightgbm", "xgboost"])
def test_missing_values_and_both_layouts_give_the_librarys_own_bytes(
        iris_lgbm_model_root, xgboost_model_root, flavor):
    if flavor == "lightgbm":
        predict, booster = lightgbm_direct(iris_lgbm_model_root)
        reference = booster.predict
    else:
        predict, booster = xgboost_direct(xgboost_model_root)
        reference = booster.inplace_predict
    matrix = noisy_iris_rows(SIZES[-1], seed=3)
    matrix[::3, 1] = np.nan
    matrix[1::5] = 0.0
    for batch in (matrix[:1], matrix[1:2], matrix[:40], matrix,
                  np.asfortranarray(matrix[:40]), np.asfortranarray(matrix)):
        got = predict(table(batch), None)
        assert same_bytes(got, reference(batch)), f"{batch.shape} {batch.flags.f_contiguous}"


@pytest.mark.parametrize("flavor", ["lightgbm", "xgboost"])
def test_concurrent_requests_each_get_their_own_answer(iris_lgbm_model_root,
                                                       xgboost_model_root, flavor):
    # LightGBM shares one fast-path config between threads and XGBoost hands back a
    # per-thread buffer: threads mixing single rows and batches must never see each
    # other's answers.
    predict, _ = (lightgbm_direct(iris_lgbm_model_root) if flavor == "lightgbm"
                  else xgboost_direct(xgboost_model_root))
    batches = [noisy_iris_rows(1 + seed % 3, seed) for seed in range(60)]
    expected = [predict(table(batch), None) for batch in batches]
    wrong: list[int] = []

    def client(offset: int) -> None:
        for round_ in range(40):
            index = (offset * 7 + round_) % len(batches)
            if not same_bytes(predict(table(batches[index]), None), expected[index]):
                wrong.append(index)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


@pytest.mark.parametrize("flavor", ["lightgbm", "xgboost"])
def test_an_input_wider_than_the_trees_gets_the_librarys_own_message(
        iris_lgbm_model_root, xgboost_model_root, flavor):
    if flavor == "lightgbm":
        predict, _ = lightgbm_direct(iris_lgbm_model_root)
        error, message = lightgbm.basic.LightGBMError, "number of features"
    else:
        predict, _ = xgboost_direct(xgboost_model_root)
        error, message = ValueError, "Feature shape mismatch"
    with pytest.raises(error, match=message):
        predict(table(np.ones((1, 5))), None)


def test_concurrent_small_and_big_requests_each_get_their_own_answer(
        start_server, iris_lgbm_model_root):
    # A small request alone in the server is predicted on the event loop, a big one or
    # one among others in the scoring thread: as the mix of sizes and overlaps changes,
    # each request must still get its own answer.
    server = start_server(model_dir=str(iris_lgbm_model_root))
    model = mlflow.pyfunc.load_model(str(iris_lgbm_model_root / "model"))
    batches = [noisy_iris_rows(SINGLE_THREAD_ROWS + 88 if seed % 5 == 0 else 1 + seed % 20,
                               seed) for seed in range(60)]
    responses = fire_concurrently(server.url, [{"data": b.tolist()} for b in batches])
    for batch, response in zip(batches, responses, strict=True):
        assert response.status_code == 200, response.text
        expected = model.predict(pd.DataFrame(batch, columns=IRIS_COLUMNS))
        assert same_bytes(np.asarray(response.json()), expected), len(batch)
