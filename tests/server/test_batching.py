"""Micro-batching: concurrent requests share predicts yet each gets its own answer;
off means every request is its own predict."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import mlflow.pyfunc
import numpy as np
import pytest

from tests.models import iris_frame


def batch_histogram(text: str) -> tuple[int, int]:
    """(number of batches, requests in them) from /metrics."""
    count = int(re.search(r"^mlkube_batch_size_count (\d+)", text, re.M).group(1))
    total = float(re.search(r"^mlkube_batch_size_sum (\S+)", text, re.M).group(1))
    return count, int(total)


def fire_concurrently(url: str, bodies: list[dict]) -> list[httpx.Response]:
    with httpx.Client(base_url=url, timeout=30,
                      limits=httpx.Limits(max_connections=32)) as client, \
            ThreadPoolExecutor(32) as pool:
        return list(pool.map(lambda body: client.post("/score", json=body), bodies))


@pytest.fixture(scope="module")
def iris_rows_and_expected(iris_lgbm_model_root):
    features, _ = iris_frame()
    model = mlflow.pyfunc.load_model(str(iris_lgbm_model_root / "model"))
    return features.values.tolist(), model.predict(features)


def test_batching_gives_each_concurrent_request_its_own_correct_answer(
        start_server, iris_lgbm_model_root, iris_rows_and_expected):
    server = start_server(model_dir=str(iris_lgbm_model_root), batching=True,
                          max_batch_size=16, max_batch_wait_ms=2)
    rows, expected = iris_rows_and_expected
    # Requests of 1 to 3 rows, so a wrong split would show.
    bodies, wanted = [], []
    i = 0
    while i < len(rows):
        size = 1 + (i % 3)
        bodies.append({"data": rows[i:i + size]})
        wanted.append(expected[i:i + size])
        i += size
    responses = fire_concurrently(server.url, bodies * 3)
    for response, want in zip(responses, wanted * 3, strict=True):
        assert response.status_code == 200, response.text
        assert np.array_equal(np.asarray(response.json()), want)
    batches, requests = batch_histogram(server.client.get("/metrics").text)
    assert requests == len(bodies) * 3
    assert batches < requests, "no request was batched with another"


def test_batching_off_predicts_every_request_alone(iris_server, iris_rows_and_expected):
    rows, expected = iris_rows_and_expected
    responses = fire_concurrently(iris_server.url, [{"data": [r]} for r in rows[:40]])
    for response, want in zip(responses, expected[:40], strict=True):
        assert np.array_equal(np.asarray(response.json()), [want])
    assert batch_histogram(iris_server.client.get("/metrics").text) == (0, 0)
    assert iris_server.app.batcher is None


def test_requests_with_params_are_not_batched(start_server, tensor_pyfunc_model_root):
    server = start_server(model_dir=str(tensor_pyfunc_model_root), batching=True)
    bodies = [{"input_data": [[1, 2, 3]], "params": {"scale": float(k)}} for k in range(10)]
    responses = fire_concurrently(server.url, bodies)
    assert [r.json() for r in responses] == [[6.0 * k] for k in range(10)]
    assert batch_histogram(server.client.get("/metrics").text) == (0, 0)
