"""Talking to a running local endpoint the way a user's client does: HTTP with a key."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

SEED_REQUEST = b'{"data": [[1, 2, 3, 4]]}'


def score(client: httpx.Client, uri: str, key: str | None, *, body: bytes = SEED_REQUEST,
          deployment: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if deployment is not None:
        headers["azureml-model-deployment"] = deployment
    return client.post(uri, content=body, headers=headers)


def assert_rejects_missing_and_wrong_keys(client: httpx.Client, uri: str) -> None:
    """401 without a key and with a wrong one, and the wrong key is never echoed back."""
    assert score(client, uri, None).status_code == 401
    wrong = score(client, uri, "not-the-key")
    assert wrong.status_code == 401
    assert "not-the-key" not in wrong.text


def assert_header_picks_the_deployment(client: httpx.Client, uri: str, key: str, *,
                                       weighted: str, pinned: str) -> None:
    """Unpinned requests all go to the deployment with the traffic; the
    ``azureml-model-deployment`` header sends every request to ``pinned``."""
    unpinned_answers = [score(client, uri, key) for _ in range(20)]
    assert {r.headers["azureml-model-deployment"] for r in unpinned_answers} == {weighted}
    pinned_answers = [score(client, uri, key, deployment=pinned) for _ in range(20)]
    assert {r.headers["azureml-model-deployment"] for r in pinned_answers} == {pinned}


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str,
             every: float = 0.1) -> None:
    """Poll ``condition`` every ``every`` s until it holds; fail naming ``what`` at the
    deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


@dataclass
class ClientLoop:
    """A client scoring in a loop on its own thread, recording every outcome."""

    uri: str
    key: str
    #: Seconds between two requests (0: back to back, as much load as one client makes).
    pause_s: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    deployments: list[str] = field(default_factory=list)
    #: The body of every 200 answer, in order (which model version answered).
    bodies: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ClientLoop:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        with httpx.Client(timeout=30, trust_env=False) as client:
            while not self._stop.is_set():
                try:
                    response = score(client, self.uri, self.key)
                except httpx.HTTPError as error:
                    self.failures.append(f"{type(error).__name__}: {error}")
                    continue
                self.statuses[response.status_code] += 1
                if response.status_code == 200:
                    self.deployments.append(response.headers["azureml-model-deployment"])
                    self.bodies.append(response.text)
                else:
                    self.failures.append(f"{response.status_code}: {response.text[:200]}")
                if self.pause_s:
                    self._stop.wait(self.pause_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
