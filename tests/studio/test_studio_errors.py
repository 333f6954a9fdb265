"""What a wrong name or a bad form gets from the studio: the cause and the fix, as the
CLI words them (an error page, or JSON with message and hint), never a traceback."""

from __future__ import annotations

from tests.studio.conftest import Studio, csrf_token, signed_in


def test_a_missing_endpoint_is_404_with_the_cause_and_fix(studio: Studio) -> None:
    with signed_in(studio) as http:
        page = http.get("/endpoints/no-such-endpoint", headers={"Accept": "text/html"})
        assert page.status_code == 404
        assert "Error: " in page.text and "no-such-endpoint" in page.text
        assert "Hint: " in page.text and "Traceback" not in page.text
        api = http.get("/api/endpoints/no-such-endpoint")
        assert api.status_code == 404
        assert "no-such-endpoint" in api.json()["message"] and api.json()["hint"]


def test_a_bad_deploy_form_is_refused_before_anything_starts(studio: Studio) -> None:
    with signed_in(studio) as http:
        headers = {"Origin": studio.base, "X-CSRF-Token": csrf_token(http)}
        bad_name = http.post("/api/deploy", headers=headers, json={
            "endpoint_name": "9-starts-with-a-digit", "model": "iris:1",
            "deployment_name": "blue", "instance_count": 1})
        assert bad_name.status_code == 400
        assert "9-starts-with-a-digit" in bad_name.json()["message"]
        not_json = http.post("/api/deploy", headers={**headers,
                                                     "Content-Type": "application/json"},
                             content=b"{not json")
        assert not_json.status_code == 400
        assert not_json.json()["message"] == "The request body is not a JSON object."
        created = [e["name"] for e in http.get("/api/endpoints").json()]
        assert "9-starts-with-a-digit" not in created  # nothing was started
