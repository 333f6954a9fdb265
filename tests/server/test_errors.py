"""Every error a user can meet: the status, and a message that names the cause.

One JSON shape on every route (``error``, ``error_code``, ``message``, ``hint``), the
payload never echoed, and the server keeps serving afterwards.
"""

from __future__ import annotations

import pytest

SECRET_VALUE = "s3cr3t-payload-value"


def assert_error(response, status: int, *fragments: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_code", "message", "hint"}
    assert body["error"] == body["message"]
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    assert SECRET_VALUE not in response.text
    return body


@pytest.mark.parametrize("route", ["/score", "/invocations"])
def test_malformed_json_is_400_saying_where(iris_server, route):
    response = iris_server.client.post(
        route, content=b'{"data": [[1, 2, 3, 4]\n  "x": 1}',
        headers={"content-type": "application/json"})
    body = assert_error(response, 400, "not valid JSON", "line 2", "column")
    assert body["error_code"] == "BAD_REQUEST"


def test_body_matching_no_format_is_400_listing_the_accepted_ones(iris_server):
    response = iris_server.client.post("/score", json={"rows": [[1, 2, 3, 4]],
                                                       "secret": SECRET_VALUE})
    body = assert_error(response, 400, "matches no accepted format", "'rows'")
    for key in ("input_data", "dataframe_split", "dataframe_records", "instances", "inputs",
                "text/csv"):
        assert key in body["hint"]


def test_bare_json_array_is_400_naming_the_envelopes(iris_server):
    response = iris_server.client.post("/score", json=[[1, 2, 3, 4]])
    assert_error(response, 400, "JSON array", "input_data")


def test_wrong_value_count_is_400_naming_the_columns(iris_server):
    response = iris_server.client.post("/score", json={"data": [[1, 2, 3]]})
    assert_error(response, 400, "Row 0 has 3 values; expected 4", "sepal_length",
                 "petal_width")


def test_missing_column_is_400_naming_it_and_its_type(iris_server):
    response = iris_server.client.post("/invocations", json={"dataframe_records": [
        {"sepal_length": 1, "sepal_width": 2, "petal_length": 3}]})
    assert_error(response, 400, "'petal_width' (double)")


def test_wrong_type_is_400_naming_the_column_and_expected_type(sklearn_server):
    response = sklearn_server.client.post("/score", json={"dataframe_records": [
        {"area": 50.0, "rooms": 2, "city": 7}]})
    assert_error(response, 400, "'city'", "string", "integer")
    response = sklearn_server.client.post("/score", json={"dataframe_records": [
        {"area": SECRET_VALUE, "rooms": 2, "city": "rome"}]})
    assert_error(response, 400, "'area'", "double", "string")
    response = sklearn_server.client.post("/score", json={"dataframe_records": [
        {"area": 50.0, "rooms": 2.5, "city": "rome"}]})
    assert_error(response, 400, "'rooms'", "long", "integer")


def test_wrong_tensor_shape_is_400_naming_expected_shape(tensor_server):
    response = tensor_server.client.post("/score", json={"input_data": [[1.0, 2.0]]})
    assert_error(response, 400, "expects shape (-1, 3)", "got (1, 2)")


def test_bad_param_is_400_naming_the_param(tensor_server):
    response = tensor_server.client.post("/score", json={"input_data": [[1, 2, 3]],
                                                         "params": {"scale": "big"}})
    assert_error(response, 400, "'scale'", "double")
    response = tensor_server.client.post("/score", json={"input_data": [[1, 2, 3]],
                                                         "params": {"temperature": 1}})
    assert_error(response, 400, "Unknown param 'temperature'")


def test_unsupported_content_type_is_415(iris_server):
    response = iris_server.client.post("/score", content=b"<rows/>",
                                       headers={"content-type": "application/xml"})
    body = assert_error(response, 415, "application/xml")
    assert body["error_code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_body_over_the_limit_is_413(start_server, iris_lgbm_model_root):
    server = start_server(model_dir=str(iris_lgbm_model_root), max_request_bytes=1000)
    rows = [[5.1, 3.5, 1.4, 0.2]] * 100
    response = server.client.post("/score", json={"data": rows})
    assert_error(response, 413, "over the limit of 1000 bytes")
    # Chunked upload without Content-Length is counted as it arrives.
    body = b'{"data": ' + b"[" + b",".join([b"[5.1, 3.5, 1.4, 0.2]"] * 100) + b"]}"
    response = server.client.post("/score", content=iter([body[:500], body[500:]]),
                                  headers={"content-type": "application/json"})
    assert_error(response, 413, "over the limit")
    assert server.client.post("/score", json={"data": rows[:1]}).status_code == 200


def test_run_exception_is_500_with_type_and_message_and_server_keeps_serving(script_server):
    server = script_server("behaviours.py")
    response = server.client.post("/score", json={"raise": "bad threshold"})
    body = assert_error(response, 500, "ValueError", "bad threshold")
    assert body["error_code"] == "SCORING_FAILED"
    assert response.headers["x-ms-run-function-failed"] == "True"
    again = server.client.post("/score", json={"return": "init_calls"})
    assert again.status_code == 200 and again.json() == 1


def test_scoring_over_the_timeout_is_504(script_server):
    server = script_server("behaviours.py", scoring_timeout_ms=200)
    response = server.client.post("/score", json={"sleep": 0.6})
    body = assert_error(response, 504, "SCORING_TIMEOUT_MS=200")
    assert body["error_code"] == "SCORING_TIMEOUT"


def test_failing_init_keeps_process_up_liveness_200_readiness_and_scoring_503(script_server):
    server = script_server("failing_init.py")
    assert server.client.get("/v2/health/live").status_code == 200
    # GET / says the cause too: a client polling it until 200 never scores a broken model.
    for route in ("/", "/ready", "/ping", "/v2/health/ready"):
        assert_error(server.client.get(route), 503, "RuntimeError",
                     "model file corrupt: checksum mismatch")
    response = server.client.post("/score", content=b"{}")
    body = assert_error(response, 503, "init()", "model file corrupt")
    assert body["error_code"] == "MODEL_NOT_READY"


def test_script_without_run_is_503_naming_the_missing_function(script_server):
    server = script_server("no_run.py")
    assert server.client.get("/v2/health/live").status_code == 200
    assert_error(server.client.get("/"), 503, "no run() function")
    assert_error(server.client.get("/ready"), 503, "no run() function")
    assert_error(server.client.post("/score", content=b"{}"), 503, "no run() function")


def test_model_folder_without_mlmodel_is_503_with_a_hint(start_server, tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0")
    server = start_server(model_dir=str(tmp_path))
    body = assert_error(server.client.get("/ready"), 503, "No MLmodel file")
    assert "--entry-script" in body["hint"]


def test_unknown_route_is_404_and_wrong_method_405(iris_server):
    assert_error(iris_server.client.get("/nope"), 404, "/nope")
    assert_error(iris_server.client.get("/score"), 405, "GET")
    # RFC 9110: a 405 names the methods the route takes.
    assert iris_server.client.get("/score").headers["allow"] == "POST"
    assert iris_server.client.request("TRACE", "/ready").headers["allow"] == "GET, HEAD"
    assert iris_server.client.delete("/v2/models/x/infer").headers["allow"] == "POST"
    assert "allow" not in iris_server.client.get("/nope").headers
    # Not v2 routes: a 404, not a 405 that names the method it refuses.
    for path in ("/v2/models", "/v2/nope"):
        assert_error(iris_server.client.get(path), 404, path)


def test_unknown_key_beside_the_input_is_400_naming_it(iris_server):
    # A misspelt "params" used to be dropped without a word.
    response = iris_server.client.post("/score", json={"data": [[5.1, 3.5, 1.4, 0.2]],
                                                       "parms": {"x": 1}})
    body = assert_error(response, 400, "'parms'", "'data'")
    assert '"params"' in body["hint"]


def test_v2_unknown_model_is_404_naming_the_served_one(iris_server):
    body = assert_error(iris_server.client.post("/v2/models/other/infer", json={}), 404,
                        "other")
    assert iris_server.app.scorer.name in body["hint"]


def test_several_models_in_the_folder_need_mlflow_model_folder(start_server, tmp_path,
                                                               iris_lgbm_model_root):
    import shutil

    for name in ("first", "second"):
        shutil.copytree(iris_lgbm_model_root / "model", tmp_path / name)
    ambiguous = start_server(model_dir=str(tmp_path))
    body = assert_error(ambiguous.client.get("/ready"), 503, "several MLflow models",
                        "first", "second")
    assert "MLFLOW_MODEL_FOLDER" in body["hint"]
    chosen = start_server(model_dir=str(tmp_path), mlflow_model_folder="second")
    assert chosen.client.post("/score", json={"data": [[1, 2, 3, 4]]}).status_code == 200
