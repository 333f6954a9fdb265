"""Raw-HTTP entry scripts (``@rawhttp``, ``AMLRequest``, ``AMLResponse``) run as on Azure ML.

The scripts in ``scripts/raw_*.py`` import Azure's modules by Azure's paths and are
served by real servers on 127.0.0.1, called with a real HTTP client.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from mlkube.server.scorers.raw_request import compat_dir
from mlkube.server.scorers.raw_response import AMLResponse, response_parts
from tests.server.conftest import SCRIPTS


@pytest.fixture(scope="module")
def raw_server(script_server):
    return script_server("raw_echo.py")


def test_get_on_score_reaches_run_with_the_request_and_its_full_path(raw_server):
    response = raw_server.client.get("/score", params={"q": "1"})
    assert response.status_code == 200
    assert response.text == "/score?q=1"
    assert response.headers["x-seen-method"] == "GET"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert response.headers["x-ms-request-id"]
    assert float(response.headers["x-ms-run-fn-exec-ms"]) >= 0


def test_post_reads_body_query_args_and_headers_and_answers_with_its_status_and_header(
        raw_server):
    response = raw_server.client.post(
        "/score?scale=2.5&tag=a&tag=b", json={"values": [1, 2, 3]},
        headers={"x-custom-header": "abc", "x-request-id": "req-1"})
    assert response.status_code == 201, response.text
    assert response.json() == {"sum": 6, "scale": 2.5, "tags": ["a", "b"],
                               "custom_header": "abc", "content_type": "application/json",
                               "path": "/score"}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-model-version"] == "7"
    assert response.headers["x-request-id"] == "req-1"


def test_multipart_upload_reaches_run_as_files_and_form_fields(raw_server):
    response = raw_server.client.post(
        "/score", files={"image": ("cat.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "image/png")},
        data={"label": "cat"})
    assert response.status_code == 200, response.text
    assert response.json() == {"filename": "cat.png", "size": 108, "label": "cat"}


def test_plain_return_value_is_encoded_as_json_like_other_modes(raw_server):
    response = raw_server.client.post("/score?plain=1", content=b"hello")
    assert response.status_code == 200
    assert response.json() == {"echo": "hello"}
    assert response.headers["content-type"] == "application/json"


def test_exception_in_raw_run_is_500_naming_type_and_message(raw_server):
    response = raw_server.client.post("/score?fail=1", content=b"{}")
    assert response.status_code == 500
    assert response.headers["x-ms-run-function-failed"] == "True"
    assert "RuntimeError: asked to fail" in response.json()["message"]


def test_get_json_on_a_broken_body_is_a_400_saying_where_the_json_breaks(raw_server):
    response = raw_server.client.post("/score?json=1", content=b'{"a": ',
                                      headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["message"]


def test_put_on_score_is_still_405(raw_server):
    assert raw_server.client.put("/score", content=b"{}").status_code == 405


def test_new_import_path_request_headers_and_text_content_type(script_server):
    server = script_server("raw_headers.py")
    response = server.client.get("/score", headers={"x-token": "t1"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain"
    method, token, names = response.text.split(" ")
    assert (method, token) == ("GET", "t1")
    assert "X-Token" in names.split(",") and "Host" in names.split(",")


def test_undecorated_script_keeps_get_on_score_refused_with_405(script_server):
    response = script_server("headers.py").client.get("/score")
    assert response.status_code == 405


def test_rawhttp_together_with_input_schema_fails_loading_naming_both(script_server):
    server = script_server("raw_with_schema.py")
    ready = server.client.get("/ready")
    assert ready.status_code == 503
    message = ready.json()["message"]
    assert "@rawhttp" in message and "@input_schema" in message


def test_aml_response_headers_set_after_construction_are_sent_as_in_azures_cors_example():
    response = AMLResponse(b"body", 200)
    response.headers["Access-Control-Allow-Origin"] = "http://www.example.com"
    response.headers["X-Multi"] = "one"
    response.headers.add("X-Multi", "two")
    status, headers, body = response_parts(response)
    assert (status, body) == (200, b"body")
    assert (b"access-control-allow-origin", b"http://www.example.com") in headers
    assert [v for n, v in headers if n == b"x-multi"] == [b"one", b"two"]


def test_aml_response_without_json_str_refuses_a_dict_with_a_hint():
    with pytest.raises(TypeError, match="json_str=True"):
        AMLResponse({"a": 1}, 200)
    assert AMLResponse(None, 204).get_data() == b"{}"


def test_installed_azure_package_wins_over_the_shim(tmp_path):
    # A stand-in for azureml-contrib-services: a regular package earlier on sys.path, as
    # site-packages is; mlkube's shim folder is appended last, as the .pth does.
    services = tmp_path / "azureml" / "contrib" / "services"
    services.mkdir(parents=True)
    for folder in (tmp_path / "azureml", tmp_path / "azureml" / "contrib", services):
        (folder / "__init__.py").write_text("")
    (services / "aml_request.py").write_text("REAL = True\n")
    code = ("import sys; sys.path.append(sys.argv[1]); sys.path.insert(0, sys.argv[2]); "
            "import azureml.contrib.services.aml_request as m; print(m.__file__)")
    result = subprocess.run([sys.executable, "-c", code, compat_dir(), str(tmp_path)],
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == str(services / "aml_request.py")


def test_shim_is_importable_in_a_fresh_interpreter_of_this_environment():
    code = ("from azureml.contrib.services.aml_request import rawhttp; "
            "from azureml.contrib.services.aml_response import AMLResponse; "
            "print(AMLResponse.__module__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "mlkube.server.scorers.raw_response"


def test_azmlinfsrv_serves_the_raw_script_with_its_flags(serve_process, tmp_path):
    server = serve_process(["--entry_script", str(SCRIPTS / "raw_echo.py"),
                            "--model_dir", str(tmp_path)], command="azmlinfsrv").wait_ready()
    get = httpx.get(server.url + "/score?x=y", timeout=10)
    assert (get.status_code, get.text) == (200, "/score?x=y")
    post = httpx.post(server.url + "/score?tag=t", json={"values": [2, 3]},
                      headers={"x-custom-header": "h"}, timeout=10)
    assert post.status_code == 201
    assert post.json()["sum"] == 5 and post.json()["tags"] == ["t"]
    assert post.headers["x-model-version"] == "7"


def test_a_caller_gone_mid_body_gets_no_answer_and_run_never_sees_the_half_body(raw_server):
    """uvicorn hands the app ``http.disconnect`` when the caller hangs up mid-body; the
    half body must not reach ``run()`` as if it were the request."""
    import asyncio

    app = raw_server.app
    before = app.metrics.predict.count
    messages = [{"type": "http.request", "body": b'{"values": [1, 2', "more_body": True},
                {"type": "http.disconnect"}]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/score", "query_string": b"plain=1",
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", b"40")]}
    asyncio.run(app(scope, receive, send))

    assert sent == []
    assert app.metrics.predict.count == before
    assert raw_server.client.post("/score?plain=1", content=b"{}").json() == {"echo": "{}"}
