"""Who gets into the studio: only the holder of the printed token, only from its pages.

Every route the app has (enumerated from it, so a new route cannot escape) answers 401
without a session; a wrong token gets no session; a change without the studio's origin
and CSRF token is 403; the token never reaches the log; keys are not in any page
before Reveal.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route

from mlkube.entities.online_endpoint import ManagedOnlineEndpoint
from mlkube.operations.client import MLClient
from mlkube.studio.app import routes
from mlkube.studio.auth import SESSION_COOKIE
from tests.studio.conftest import Studio, csrf_token, signed_in

ENDPOINT = "studio-auth"


def every_request() -> list[tuple[str, str]]:
    """(method, path) for every route of the app, path parameters filled in."""
    requests = []
    for route in routes():
        if isinstance(route, Mount):
            requests.append(("GET", route.path + "/studio.css"))
            continue
        assert isinstance(route, Route)
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                requests.append((method, path))
    return requests


@pytest.fixture(scope="module")
def endpoint_with_keys(ml_client: MLClient) -> Iterator[str]:
    ml_client.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name=ENDPOINT), progress=None).result()
    yield ENDPOINT
    ml_client.online_endpoints.begin_delete(ENDPOINT, progress=None).result()


def test_every_route_answers_401_without_a_session(studio: Studio) -> None:
    requests = every_request()
    assert len(requests) > 20  # the enumeration found the app's routes
    with httpx.Client(base_url=studio.base, trust_env=False, timeout=30) as http:
        for method, path in requests:
            for accept in ("text/html", "application/json"):
                response = http.request(method, path, headers={"Accept": accept,
                                                               "Origin": studio.base})
                assert response.status_code == 401, (method, path, response.status_code)
                assert "mlkube studio" in response.text


def test_a_page_without_session_tells_where_the_url_is(studio: Studio) -> None:
    response = httpx.get(f"{studio.base}/endpoints", headers={"Accept": "text/html"},
                         trust_env=False)
    assert response.status_code == 401
    assert "Open the URL that <code>mlkube studio</code> printed" in response.text


def test_a_wrong_token_gets_401_and_no_session(studio: Studio) -> None:
    with httpx.Client(base_url=studio.base, trust_env=False) as http:
        response = http.get("/?token=" + studio.token[:-2] + "xx")
        assert response.status_code == 401
        assert SESSION_COOKIE not in response.cookies
        assert http.get("/api/endpoints").status_code == 401


def test_the_token_becomes_an_httponly_strict_cookie_and_leaves_the_url(
        studio: Studio) -> None:
    with httpx.Client(base_url=studio.base, trust_env=False) as http:
        response = http.get(f"/models?token={studio.token}&version=2")
        assert response.status_code == 303
        assert response.headers["location"] == "/models?version=2"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert studio.token not in cookie
        assert http.get("/api/endpoints").status_code == 200
        assert http.get("/models", headers={"Accept": "text/html"}).status_code == 200


def test_a_cross_site_post_is_refused_with_403(studio: Studio) -> None:
    with signed_in(studio) as http:
        token = csrf_token(http)
        # Change the last character to one it is not (a fixed "A" is the token itself 1 in 64).
        wrong = token[:-1] + ("B" if token.endswith("A") else "A")
        body = {"name": "x", "path": "/nonexistent"}
        for headers in (
            {"Origin": "http://evil.example", "X-CSRF-Token": token},  # another site
            {"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": token},  # no Origin
            {"X-CSRF-Token": token},  # neither: not provably a studio page
            {"Origin": studio.base},  # same origin, no CSRF token
            {"Origin": studio.base, "X-CSRF-Token": wrong},  # a wrong one
        ):
            response = http.post("/api/models", json=body, headers=headers)
            assert response.status_code == 403, headers
            assert response.json()["hint"]
        # The same request from the studio's page reaches the operation (and its error).
        response = http.post("/api/models", json=body,
                             headers={"Origin": studio.base, "X-CSRF-Token": token})
        assert response.status_code == 400
        assert "/nonexistent does not exist" in response.json()["message"]
        deleting = http.delete(f"/api/endpoints/{ENDPOINT}-none",
                               headers={"Origin": "http://evil.example", "X-CSRF-Token": token})
        assert deleting.status_code == 403


def test_keys_appear_only_on_reveal_and_never_in_the_log(
        studio: Studio, endpoint_with_keys: str, ml_client: MLClient) -> None:
    keys = ml_client.online_endpoints.get_keys(endpoint_with_keys)
    with signed_in(studio) as http:
        token = csrf_token(http)
        for path in ("/endpoints", f"/endpoints/{endpoint_with_keys}",
                     f"/endpoints/{endpoint_with_keys}/test",
                     f"/api/endpoints/{endpoint_with_keys}", "/api/endpoints"):
            page = http.get(path, headers={"Accept": "text/html"})
            assert page.status_code == 200, (path, page.text[:300])
            assert keys.primary_key not in page.text and keys.secondary_key not in page.text
        assert endpoint_with_keys in http.get("/endpoints").text
        revealed = http.post(f"/api/endpoints/{endpoint_with_keys}/keys/reveal",
                             headers={"Origin": studio.base, "X-CSRF-Token": token})
        assert revealed.status_code == 200
        assert revealed.json() == {"primary_key": keys.primary_key,
                                   "secondary_key": keys.secondary_key}
    log = studio.log()
    assert f"POST /api/endpoints/{endpoint_with_keys}/keys/reveal 200" in log
    assert keys.primary_key not in log and keys.secondary_key not in log


def test_the_token_is_printed_once_and_never_logged(studio: Studio) -> None:
    with signed_in(studio) as http:
        http.get(f"/endpoints?token={studio.token}")
    log = studio.log()
    assert "GET / 303" in log and "GET /endpoints 303" in log
    assert studio.token not in log
    assert studio.first_line == f"Studio: {studio.base}/?token={studio.token}"


def test_a_non_loopback_host_needs_allow_remote(studio_workspace: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlkube.cli.main", "studio", "--host", "0.0.0.0",
         "--port", "0", "--workspace", str(studio_workspace)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""  # no URL: nothing listens
    assert "--host 0.0.0.0 is not a loopback address" in result.stderr
    assert "--allow-remote" in result.stderr
