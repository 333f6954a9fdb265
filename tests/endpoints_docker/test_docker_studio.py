"""The studio over a docker endpoint: the same page and JSON as for a local one, read
through the same operations (target docker, deployments, traffic, metrics, logs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.endpoints_docker.conftest import DockerEndpoint
from tests.studio.conftest import Studio, running_studio, signed_in


@pytest.fixture(scope="module")
def docker_studio(docker_workspace: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Studio]:
    with running_studio(docker_workspace, tmp_path_factory.mktemp("docker-studio")) as started:
        yield started


def test_the_endpoint_page_shows_a_docker_endpoint_and_its_deployments(
        docker_studio: Studio, docker_endpoint: DockerEndpoint, http: httpx.Client) -> None:
    with signed_in(docker_studio) as studio:
        detail = studio.get(f"/api/endpoints/{docker_endpoint.name}").json()
        assert detail["target"] == "docker" and detail["state"] == "Succeeded"
        assert detail["scoring_uri"] == docker_endpoint.scoring_uri
        deployments = {d["name"]: d for d in detail["deployments"]}
        assert deployments["blue"]["state"] == "Succeeded"
        assert deployments["seed"]["scoring_script"] == "score.py"
        assert detail["traffic"]["blue"] == 100
        page = studio.get(f"/endpoints/{docker_endpoint.name}",
                          headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert '<dd id="endpoint-target">docker' in page.text
        assert docker_endpoint.primary_key not in page.text
        # Charts read the container gateway's metrics; logs the container's log.
        http.post(docker_endpoint.scoring_uri, json={"data": [[1, 2, 3, 4]]},
                  headers={"Authorization": f"Bearer {docker_endpoint.primary_key}"})
        first = studio.get(f"/api/endpoints/{docker_endpoint.name}/metrics").json()
        assert first["error"] is None
        logs = studio.get(f"/api/endpoints/{docker_endpoint.name}/deployments/blue/logs")
        assert "mlkube.server" in logs.json()["text"]
