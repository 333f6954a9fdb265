"""Pollers run the operation at once and hand back its value or its error."""

from __future__ import annotations

import threading

import pytest

from mlkube.errors import DeploymentFailedError
from mlkube.operations.poller import LROPoller


def test_poller_returns_the_result_and_keeps_progress_lines() -> None:
    seen: list[str] = []
    poller = LROPoller(lambda report: (report("building"), report("ready"), 42)[-1],
                       progress=seen.append)
    assert poller.result(timeout=10) == 42
    assert poller.done() and poller.status() == "Succeeded"
    assert poller.progress_lines == seen == ["building", "ready"]


def test_poller_reraises_the_operation_error_with_its_hint() -> None:
    def fail(report: object) -> None:
        raise DeploymentFailedError("instance blue-1-0 failed: boom", hint="fix init()")

    poller = LROPoller(fail, progress=None)
    with pytest.raises(DeploymentFailedError) as error:
        poller.result(timeout=10)
    assert error.value.hint == "fix init()"
    assert poller.status() == "Failed"


def test_poller_result_with_timeout_leaves_the_operation_running() -> None:
    release = threading.Event()
    poller = LROPoller(lambda report: release.wait(10), progress=None)
    with pytest.raises(TimeoutError):
        poller.result(timeout=0.05)
    assert not poller.done()
    release.set()
    poller.wait(10)
    assert poller.done() and poller.result() is True
