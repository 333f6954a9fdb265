"""Fixtures for the studio's tests: the real ``mlkube studio`` command on 127.0.0.1 over
a workspace of this package, read as a user reads it (its first stdout line).

The studio runs as its own process, as a user starts it; its stderr (the access log) is
kept in a file the tests read. Whatever a test leaves running is stopped at the end.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mlkube.operations.client import MLClient
from tests.processes import stop_leftover_endpoints, stop_process

URL_LINE = re.compile(r"^Studio: (?P<base>http://127\.0\.0\.1:\d+)/\?token=(?P<token>\S+)$")
#: The first request opens the workspace (MLflow's store): allow for a cold start.
START_TIMEOUT_S = 60.0


@dataclass
class Studio:
    base: str
    token: str
    process: subprocess.Popen[str]
    log_file: Path
    first_line: str

    @property
    def url(self) -> str:
        """The URL the command printed, token included."""
        return f"{self.base}/?token={self.token}"

    def log(self) -> str:
        return self.log_file.read_text()


def start_studio(workspace: Path, log_file: Path, *extra: str) -> Studio:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = open(log_file, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlkube.cli.main", "studio", "--port", "0",
         "--workspace", str(workspace), *extra],
        stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    assert process.stdout is not None
    first = process.stdout.readline().rstrip("\n")
    match = URL_LINE.match(first)
    if match is None:
        process.kill()
        pytest.fail(f"mlkube studio printed {first!r} first; stderr: {log_file.read_text()}")
    studio = Studio(base=match["base"], token=match["token"], process=process,
                    log_file=log_file, first_line=first)
    _wait_until_answering(studio)
    return studio


def _wait_until_answering(studio: Studio) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(base_url=studio.base, trust_env=False, timeout=START_TIMEOUT_S) as http:
        while time.monotonic() < deadline:
            try:
                http.get(studio.url)
                # The first reads open the workspace's store: answered once it is open.
                http.get("/api/endpoints").raise_for_status()
                return
            except httpx.TransportError:
                time.sleep(0.1)
    pytest.fail(f"mlkube studio did not answer within {START_TIMEOUT_S}s")


def stop_studio(studio: Studio) -> None:
    stop_process(studio.process, timeout=10)


@pytest.fixture(scope="package")
def studio_workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("studio-workspace")
    yield folder
    stop_leftover_endpoints(folder)


@pytest.fixture(scope="package")
def ml_client(studio_workspace: Path) -> MLClient:
    return MLClient(workspace=studio_workspace)


@contextlib.contextmanager
def running_studio(workspace: Path, log_folder: Path) -> Iterator[Studio]:
    """``mlkube studio`` over ``workspace`` while the block runs; its log in
    ``log_folder``."""
    started = start_studio(workspace, log_folder / "studio.log")
    try:
        yield started
    finally:
        stop_studio(started)


@pytest.fixture(scope="package")
def studio(studio_workspace: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Studio]:
    with running_studio(studio_workspace, tmp_path_factory.mktemp("studio-log")) as started:
        yield started


@contextlib.contextmanager
def signed_in(studio: Studio) -> Iterator[httpx.Client]:
    """A client holding a session (the token exchanged for the cookie), as a browser."""
    with httpx.Client(base_url=studio.base, trust_env=False, timeout=120) as http:
        response = http.get(studio.url)
        assert response.status_code == 303
        yield http


def csrf_token(http: httpx.Client) -> str:
    page = http.get("/endpoints", headers={"Accept": "text/html"})
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)
