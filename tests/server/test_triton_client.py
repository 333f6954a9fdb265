"""A standard Open Inference Protocol client, unchanged: Triton's own HTTP client library.

tritonclient sends input tensors with the binary tensor data extension by default and
asks for binary outputs with request-level ``parameters``; mlkube reads the binary
inputs, treats those parameters as the protocol's (not the model's), and answers with
JSON outputs, which the client reads as well.
"""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.http as triton

from tests.models import IRIS_COLUMNS, iris_frame


@pytest.fixture(scope="module")
def client(iris_server):
    client = triton.InferenceServerClient(url=iris_server.url.removeprefix("http://"))
    yield client
    client.close()


def _column_inputs(frame, *, binary: bool) -> list[triton.InferInput]:
    inputs = []
    for column in IRIS_COLUMNS:
        values = frame[column].to_numpy(dtype=np.float64)
        tensor = triton.InferInput(column, list(values.shape), "FP64")
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    return inputs


@pytest.mark.parametrize("binary", [True, False], ids=["binary-inputs", "json-inputs"])
def test_triton_client_scores_the_iris_model_like_the_model_in_process(
        client, iris_server, iris_lgbm_model_root, binary):
    import mlflow.lightgbm

    frame, _ = iris_frame()
    rows = frame.iloc[:5]
    name = iris_server.app.scorer.name
    assert client.is_server_live() and client.is_model_ready(name)
    metadata = client.get_model_metadata(name)
    assert [o["name"] for o in metadata["outputs"]] == ["predict"]

    result = client.infer(name, _column_inputs(rows, binary=binary),
                          outputs=[triton.InferRequestedOutput("predict", binary_data=True)])

    expected = mlflow.lightgbm.load_model(str(iris_lgbm_model_root / "model")).predict(rows)
    assert np.allclose(result.as_numpy("predict"), expected, atol=1e-9)


def test_a_truncated_binary_request_is_a_400_naming_the_input(iris_server):
    import json

    header = json.dumps({"inputs": [{"name": "sepal_length", "shape": [2], "datatype": "FP64",
                                     "parameters": {"binary_data_size": 16}}]}).encode()
    response = iris_server.client.post(
        f"/v2/models/{iris_server.app.scorer.name}/infer", content=header + b"\0" * 8,
        headers={"Inference-Header-Content-Length": str(len(header)),
                 "Content-Type": "application/octet-stream"})
    assert response.status_code == 400
    assert "'sepal_length' says binary_data_size 16, but only 8 bytes" in response.json()["message"]
